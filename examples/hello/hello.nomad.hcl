# The smallest useful job: one raw_exec task that says hello every few seconds.
# Run it on a dev agent:  ./bin/drover job run examples/hello/hello.nomad.hcl
job "hello" {
  datacenters = ["dc1"]
  type        = "service"

  group "hello" {
    count = 1

    task "say" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args    = ["-c", "while true; do echo \"hello from $NOMAD_ALLOC_NAME on ${node.unique.name}\"; sleep 5; done"]
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
