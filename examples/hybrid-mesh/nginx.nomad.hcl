# The hybrid mesh's load balancer: nginx on every client (a system job), its configuration rendered by a
# template from Drover's catalog (`range service`, as the seed's consul-template did with nginx.conf.tpl) and
# reloaded with SIGHUP whenever the set of passing instances changes. `/` goes to the web servers and
# `/api/` to the stats APIs; an empty service renders the 127.0.0.1:65535 fallback, so nginx still starts
# and answers 502 until instances pass their checks.
variable "port" {
  type    = number
  default = 8000
}

job "nginx" {
  datacenters = ["dc1"]
  type        = "system"

  group "nginx" {
    network {
      port "http" {
        static = var.port
      }
    }

    task "nginx" {
      driver = "raw_exec"

      config {
        command = "/usr/sbin/nginx"
        args    = ["-p", "${NOMAD_TASK_DIR}/..", "-c", "local/nginx.conf", "-e", "stderr", "-g", "daemon off;"]
      }

      template {
        data          = file("nginx/nginx.conf.tpl")
        destination   = "local/nginx.conf"
        change_mode   = "signal"
        change_signal = "SIGHUP"
        splay         = "100ms"
      }

      resources {
        cpu    = 100
        memory = 64
      }

      kill_timeout = "3s"
    }
  }
}
