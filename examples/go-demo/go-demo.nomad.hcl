# go-demo's API: reached only through Drover's gateway at /demo (the seed's docker-flow-proxy reconfigure
# with servicePath=/demo). A template renders its configuration into secrets/config.env: the database's
# address from the catalog (the seed's `-e DB=go-demo-db`) and the greeting from the KV store
# (`drover kv put go-demo/greeting Drover`); a change restarts the instances with the new values.
job "go-demo" {
  datacenters = ["dc1"]

  group "api" {
    count = 3

    network {
      port "http" {}
    }

    service {
      name = "go-demo"
      port = "http"
      tags = ["urlprefix-/demo"]

      check {
        type     = "http"
        path     = "/demo/hello"
        interval = "1s"
        timeout  = "1s"
      }
    }

    task "api" {
      driver = "raw_exec"

      config {
        command = "node"
        args    = ["${NOMAD_TASK_DIR}/go-demo.js"]
      }

      env {
        PORT = "${NOMAD_PORT_http}"
        HOST = "${NOMAD_IP_http}"
      }

      template {
        data        = file("api/go-demo.js")
        destination = "local/go-demo.js"
      }

      template {
        data        = <<EOT
DB={{ range service "go-demo-db" }}{{ .Address }}:{{ .Port }}{{ end }}
GREETING={{ keyOrDefault "go-demo/greeting" "world" }}
EOT
        destination = "secrets/config.env"
        env         = true
        change_mode = "restart"
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
