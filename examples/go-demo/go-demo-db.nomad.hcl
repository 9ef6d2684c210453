# go-demo's database (the seed ran mongo:3.2.10 as the Swarm service go-demo-db): one instance, registered as
# the service "go-demo-db". Only the API talks to it: it has no route through the gateway.
job "go-demo-db" {
  datacenters = ["dc1"]

  group "db" {
    network {
      port "db" {}
    }

    service {
      name = "go-demo-db"
      port = "db"

      check {
        type     = "tcp"
        interval = "1s"
        timeout  = "1s"
      }
    }

    task "db" {
      driver = "raw_exec"

      config {
        command = "node"
        args    = ["${NOMAD_TASK_DIR}/db.js"]
      }

      env {
        PORT = "${NOMAD_PORT_db}"
        HOST = "${NOMAD_IP_db}"
      }

      template {
        data        = file("db/db.js")
        destination = "local/db.js"
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
