# The Paris Container Day app after step 4: it runs in region europe's "france" datacenter only, on "data"
# nodes, on the static port 8081 (the seed's port 80: one per node, so count 2 needs both data nodes).
# A change rolls out one instance at a time (max_parallel = 1), so one instance always answers.
# [app.json](app.json) is the same job as API JSON, for curl.
variable "version" {
  type    = string
  default = "1.0"
}

variable "count" {
  type    = number
  default = 2
}

variable "port" {
  type    = number
  default = 8081
}

job "app" {
  region      = "europe"
  datacenters = ["europe-west1", "france"]

  constraint {
    attribute = "${node.class}"
    value     = "data"
  }

  constraint {
    attribute = "${node.datacenter}"
    value     = "france"
  }

  update {
    max_parallel     = 1
    min_healthy_time = "2s"
    healthy_deadline = "1m"
  }

  group "app" {
    count = var.count

    network {
      port "http" {
        static = var.port
      }
    }

    service {
      name = "app"
      port = "http"

      check {
        type     = "http"
        path     = "/"
        interval = "1s"
        timeout  = "1s"
      }
    }

    task "app" {
      # busybox httpd stands in for the seed's nginx container, so the example needs no image.
      driver = "raw_exec"

      config {
        command = "/bin/busybox"
        args    = ["httpd", "-f", "-p", "${NOMAD_ADDR_http}", "-h", "${NOMAD_TASK_DIR}/www"]
      }

      meta {
        version = var.version
      }

      template {
        data        = <<EOT
app {{ env "NOMAD_META_version" }} on {{ env "node.unique.name" }} in {{ env "node.datacenter" }} (class {{ env "node.class" }}) at {{ env "NOMAD_ADDR_http" }}
EOT
        destination = "local/www/index.html"
      }

      resources {
        cpu    = 20
        memory = 16
      }
    }
  }
}
