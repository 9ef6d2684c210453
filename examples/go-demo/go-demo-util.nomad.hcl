# The seed's util service, which ran `drill go-demo-db` to show that service names resolve: a batch task that
# asks the agent's DNS for go-demo-db (A and SRV records, passing instances only) and prints the answers.
# Read them with `bin/drover alloc logs <alloc>`. The DNS is the server agent's (cluster.sh: port 8600).
variable "dns_port" {
  type    = number
  default = 8600
}

job "go-demo-util" {
  datacenters = ["dc1"]
  type        = "batch"

  group "util" {
    task "dig" {
      driver = "raw_exec"

      config {
        command = "/bin/sh"
        args = ["-c", join(" ", [
          "dig @127.0.0.1 -p ${var.dns_port} +short go-demo-db.service.drover A &&",
          "dig @127.0.0.1 -p ${var.dns_port} +short go-demo-db.service.drover SRV",
        ])]
      }

      resources {
        cpu    = 20
        memory = 32
      }
    }
  }
}
