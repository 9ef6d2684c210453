# The Paris Container Day job: it belongs to region europe and runs only on a "data" node in datacenter
# france. Submitted to any server of the federation, it is forwarded to europe.
job "redis" {
  region      = "europe"
  datacenters = ["france"]

  constraint {
    attribute = "${node.class}"
    value     = "data"
  }

  constraint {
    attribute = "${node.datacenter}"
    value     = "france"
  }

  group "cache" {
    task "redis" {
      # A stand-in for the redis container, so the example needs no image: it prints where it runs, then waits.
      driver = "raw_exec"
      config {
        command = "/bin/sh"
        args    = ["-c", "echo running in ${node.datacenter} on ${node.class}; exec sleep 3600"]
      }
      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
