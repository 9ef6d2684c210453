# The application the pipeline (pipeline.sh) delivers: a web group whose docker image comes from the local
# registry, and a stats API shipped as an artifact from the file server and run by raw_exec with the host's node.
# Both are routed by Drover's gateway: /cd and /cd-stats. The pipeline renders this file with
# `-var image=127.0.0.1:5000/cd-app:<commit> -var stats_url=... -var stats_sha256=...`.
#
# A new version goes out as one canary beside the old instances; it gets traffic only once its check passes and
# is promoted after min_healthy_time. A version whose check does not pass within healthy_deadline fails the
# deployment, and auto_revert puts the last stable version back: the old instances never stopped serving.

variable "image" {
  type        = string
  description = "the web image, tagged with the commit: 127.0.0.1:5000/cd-app:<commit>"
}

variable "stats_url" {
  type        = string
  description = "where the stats API's tarball is served (the cd-files job)"
}

variable "stats_sha256" {
  type        = string
  description = "the tarball's sha256: a download that does not match is refused"
}

variable "version" {
  type        = string
  default     = "dev"
  description = "the commit, shown by the stats API"
}

job "cd-app" {
  datacenters = ["dc1"]

  update {
    max_parallel      = 1
    canary            = 1
    auto_promote      = true
    auto_revert       = true
    min_healthy_time  = "2s"
    healthy_deadline  = "20s"
    progress_deadline = "60s"
  }

  group "web" {
    count          = 2
    shutdown_delay = "1s"

    network {
      port "http" {}
    }

    restart {
      attempts = 1
      delay    = "1s"
      mode     = "fail"
    }

    service {
      name     = "cd-app"
      provider = "nomad"
      port     = "http"
      tags     = ["urlprefix-/cd strip=/cd"]
      # One slow answer on a busy machine must not take a healthy instance out of the gateway's routes.
      check {
        type                     = "http"
        path                     = "/health"
        interval                 = "1s"
        timeout                  = "2s"
        failures_before_critical = 3
      }
    }

    task "web" {
      driver = "docker"

      config {
        image              = var.image
        network_mode       = "host"
        ports              = ["http"]
        image_pull_timeout = "2m"
      }

      env {
        PORT = "${NOMAD_PORT_http}"
        HOST = "127.0.0.1"
      }

      kill_timeout = "3s"

      resources {
        cpu    = 100
        memory = 64
      }
    }
  }

  group "stats" {
    shutdown_delay = "1s"

    network {
      port "http" {}
    }

    restart {
      attempts = 1
      delay    = "1s"
      mode     = "fail"
    }

    service {
      name     = "cd-stats"
      provider = "nomad"
      port     = "http"
      tags     = ["urlprefix-/cd-stats strip=/cd-stats"]
      check {
        type                     = "http"
        path                     = "/stats"
        interval                 = "1s"
        timeout                  = "2s"
        failures_before_critical = 3
      }
    }

    task "stats" {
      driver = "raw_exec"

      artifact {
        source      = var.stats_url
        destination = "local/stats"
        options {
          checksum = "sha256:${var.stats_sha256}"
        }
      }

      config {
        command = "node"
        args    = ["local/stats/stats.js"]
      }

      env {
        PORT        = "${NOMAD_PORT_http}"
        APP_VERSION = var.version
      }

      kill_timeout = "3s"

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
