# A local Docker registry (Debian's docker-registry) as a Drover job: the exec driver runs the host's binary
# in a chroot, its storage on the `cd-registry` host volume (see agent.hcl), listening on 127.0.0.1 only.
# dockerd treats 127.0.0.0/8 registries as insecure, so plain HTTP needs no daemon configuration.
#
#   drover job run examples/cd/registry.nomad.hcl            # then: docker push 127.0.0.1:5000/name:tag
#
# With `-var htpasswd_var=nomad/jobs/registry` the registry asks for basic auth: the htpasswd line is read
# from that Drover Variable (key `htpasswd`, made with `htpasswd -Bbn user password`) by a template into
# secrets/, never written into the job. Tasks then pull with `auth { username password }` (see docs/cd.md).

variable "port" {
  type        = number
  default     = 5000
  description = "port on 127.0.0.1"
}

variable "htpasswd_var" {
  type        = string
  default     = ""
  description = "path of a Drover Variable whose `htpasswd` key turns basic auth on; empty: no auth"
}

job "registry" {
  datacenters = ["dc1"]

  group "registry" {
    network {
      port "http" {
        static = var.port
      }
    }

    volume "data" {
      type   = "host"
      source = "cd-registry"
    }

    service {
      name     = "registry"
      provider = "nomad"
      port     = "http"
      check {
        type     = "tcp"
        interval = "2s"
        timeout  = "1s"
      }
    }

    task "registry" {
      driver = "exec"
      # The Debian package's user; it must own the host volume's directory (see agent.hcl).
      user = "docker-registry"

      config {
        command = "/usr/bin/docker-registry"
        args    = ["serve", "/local/config.yml"]
      }

      volume_mount {
        volume      = "data"
        destination = "/var/lib/registry"
      }

      template {
        destination = "local/config.yml"
        data        = <<-EOT
          version: 0.1
          log:
            level: info
          storage:
            filesystem:
              rootdirectory: /var/lib/registry
            delete:
              enabled: true
          http:
            addr: 127.0.0.1:${var.port}
          %{if var.htpasswd_var != ""}
          auth:
            htpasswd:
              realm: drover-cd
              path: /secrets/htpasswd
          %{endif}
        EOT
      }

      dynamic "template" {
        for_each = var.htpasswd_var == "" ? [] : [var.htpasswd_var]
        content {
          destination = "secrets/htpasswd"
          data        = "{{ with nomadVar \"${template.value}\" }}{{ .htpasswd }}{{ end }}\n"
          change_mode = "restart"
        }
      }

      resources {
        cpu    = 100
        memory = 128
      }
    }
  }
}
