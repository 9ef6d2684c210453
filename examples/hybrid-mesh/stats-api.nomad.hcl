# The hybrid mesh's non-containerised half: a small stats API run by the exec driver (the seed exec'd a Go
# binary; this one is a Node script, since the host's node is on every client), count 10, listening on
# PORT=${NOMAD_PORT_http}. It answers with stats.json, which a template renders with the node's name, cores
# and this instance's address, as consul-template did for the seed's goStats/stats.json.
#
# Two services: "stats-api" with the port (routed by the gateway at /api, and by nginx), and
# "stats-api-worker" without one, which nginx's template skips (`if ne .Port 0`).
variable "count" {
  type    = number
  default = 10
}

job "stats-api" {
  datacenters = ["dc1"]

  group "api" {
    count = var.count

    network {
      port "http" {}
    }

    service {
      name = "stats-api"
      port = "http"
      tags = ["urlprefix-/api strip=/api"]

      check {
        type     = "http"
        path     = "/"
        interval = "5s"
        timeout  = "3s"
      }
    }

    service {
      name = "stats-api-worker"
      tags = ["no-port"]
    }

    task "api" {
      driver = "exec"

      config {
        command = "node"
        args    = ["local/stats-api.js"]
      }

      env {
        PORT = "${NOMAD_PORT_http}"
        HOST = "${NOMAD_IP_http}"
      }

      template {
        data        = file("stats-api/stats-api.js")
        destination = "local/stats-api.js"
      }

      template {
        data        = file("stats-api/stats.json.tpl")
        destination = "local/stats.json"
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
