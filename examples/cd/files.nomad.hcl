# A file server for the pipeline's releases (the stats API's tarballs) on 127.0.0.1 only: busybox httpd run by
# the exec driver, serving the `cd-releases` host volume (see agent.hcl) read-only. Tasks fetch from it with the
# `artifact` block, checksum included.
#
#   drover job run examples/cd/files.nomad.hcl

variable "port" {
  type    = number
  default = 5080
}

job "cd-files" {
  datacenters = ["dc1"]

  group "files" {
    network {
      port "http" {
        static = var.port
      }
    }

    volume "releases" {
      type      = "host"
      source    = "cd-releases"
      read_only = true
    }

    service {
      name     = "cd-files"
      provider = "nomad"
      port     = "http"
      check {
        type     = "tcp"
        interval = "2s"
        timeout  = "1s"
      }
    }

    task "httpd" {
      driver = "exec"

      config {
        command = "/bin/busybox"
        args    = ["httpd", "-f", "-p", "127.0.0.1:${var.port}", "-h", "/srv"]
      }

      volume_mount {
        volume      = "releases"
        destination = "/srv"
        read_only   = true
      }

      resources {
        cpu    = 50
        memory = 32
      }
    }
  }
}
