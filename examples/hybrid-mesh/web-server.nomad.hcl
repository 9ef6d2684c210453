# The hybrid mesh's containerised half: busybox httpd in docker, count 15, serving a page a template renders
# with the node's name and `attr.cpu.numcores` (the seed's dashboard shows which client, address and port
# answered). A tcp check gates traffic; `urlprefix-/` routes Drover's gateway to it, and the nginx system job
# (nginx.nomad.hcl) renders the same instances into its `web` upstream.
#
# Image built locally:   scripts/build-test-images.sh busybox
variable "count" {
  type    = number
  default = 15
}

job "web-server" {
  datacenters = ["dc1"]

  group "web" {
    count = var.count

    network {
      port "http" {}
    }

    service {
      name = "web"
      port = "http"
      tags = ["urlprefix-/"]

      check {
        type     = "tcp"
        interval = "2s"
        timeout  = "1s"
      }
    }

    task "web" {
      driver = "docker"

      config {
        image        = "drover-test/busybox:latest"
        network_mode = "host"
        command      = "httpd"
        args         = ["-f", "-p", "${NOMAD_ADDR_http}", "-h", "/local/www"]
        ports        = ["http"]
      }

      template {
        data        = file("web/index.html.tpl")
        destination = "local/www/index.html"
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
