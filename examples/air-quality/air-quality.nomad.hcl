# The seed's Air Quality API with its PostgreSQL database, on Drover. One job, so that all three groups may
# read the Drover Variable nomad/jobs/air-quality (a task reads only its own job's variables):
#
#   gateway /air ──► api (node, raw_exec) ──► aq-upstream (node stub, raw_exec): nearest city, fixture JSON
#                        └─ psql ──────────► air-quality-db (PostgreSQL, exec as postgres, host volume)
#
# The password is put once with `drover var put nomad/jobs/air-quality password=...`; templates render it into
# the db and api tasks' secrets/ directories. The job itself never holds it (see `drover job inspect`).
job "air-quality" {
  datacenters = ["dc1"]

  # An instance counts as healthy once its check has passed for 2s (Nomad's default waits 10s).
  update {
    min_healthy_time = "2s"
  }

  group "db" {
    network {
      port "db" {}
    }

    # PostgreSQL's data directory: the host volume from agent.hcl, so the data outlives the allocation.
    volume "pgdata" {
      type   = "host"
      source = "air-quality-pgdata"
    }

    service {
      name     = "air-quality-db"
      provider = "nomad"
      port     = "db"

      check {
        # Run inside the postgres task (its chroot, as its user): the server answers the protocol, not just TCP.
        name     = "pg_isready"
        type     = "script"
        task     = "postgres"
        command  = "/usr/bin/pg_isready"
        args     = ["-q", "-h", "${NOMAD_IP_db}", "-p", "${NOMAD_PORT_db}"]
        interval = "2s"
        timeout  = "5s"
      }
    }

    task "postgres" {
      driver = "exec"
      # PostgreSQL refuses to run as root; the host volume's directory belongs to this user (see agent.hcl).
      user = "postgres"

      config {
        command = "/bin/sh"
        args    = ["/local/start.sh"]
      }

      volume_mount {
        volume      = "pgdata"
        destination = "/var/lib/postgresql"
      }

      template {
        data        = file("db/start.sh")
        destination = "local/start.sh"
      }

      # secrets/ is mode 0700 and belongs to the task's user (postgres): only it (and root) can read the file.
      # A new password restarts the task; start.sh sets it on the role before PostgreSQL listens again.
      template {
        data        = "{{ with nomadVar \"nomad/jobs/air-quality\" }}{{ .password }}{{ end }}\n"
        destination = "secrets/db-password"
        change_mode = "restart"
      }

      kill_signal  = "SIGINT"
      kill_timeout = "10s"

      resources {
        cpu    = 200
        memory = 256
      }
    }
  }

  group "upstream" {
    network {
      port "http" {}
    }

    service {
      name     = "aq-upstream"
      provider = "nomad"
      port     = "http"

      check {
        type     = "http"
        path     = "/health"
        interval = "2s"
        timeout  = "1s"
      }
    }

    task "upstream" {
      driver = "raw_exec"

      config {
        command = "node"
        args    = ["${NOMAD_TASK_DIR}/upstream.js", "${NOMAD_TASK_DIR}/fixtures.json"]
      }

      env {
        PORT = "${NOMAD_PORT_http}"
        HOST = "${NOMAD_IP_http}"
      }

      template {
        data        = file("upstream/upstream.js")
        destination = "local/upstream.js"
      }

      template {
        data        = file("upstream/fixtures.json")
        destination = "local/fixtures.json"
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }

  group "api" {
    network {
      port "http" {}
    }

    service {
      name     = "air-quality"
      provider = "nomad"
      port     = "http"
      tags     = ["urlprefix-/air"]

      # The health answer runs a query through psql: give a busy machine time, and one miss in a row.
      check {
        type                     = "http"
        path                     = "/air/health"
        interval                 = "2s"
        timeout                  = "5s"
        failures_before_critical = 2
      }
    }

    task "api" {
      driver = "raw_exec"

      config {
        command = "node"
        args    = ["${NOMAD_TASK_DIR}/api.js"]
      }

      env {
        PORT = "${NOMAD_PORT_http}"
        HOST = "${NOMAD_IP_http}"
      }

      template {
        data        = file("api/api.js")
        destination = "local/api.js"
      }

      # Read by the API on every request: no restart when the database moves or the password changes.
      template {
        data        = <<EOT
{{ range service "air-quality-db" }}PGHOST={{ .Address }}
PGPORT={{ .Port }}
{{ end }}{{ range service "aq-upstream" }}UPSTREAM={{ .Address }}:{{ .Port }}
{{ end }}PGUSER=airq
PGDATABASE=airquality
PGPASSWORD={{ with nomadVar "nomad/jobs/air-quality" }}{{ .password }}{{ end }}
EOT
        destination = "secrets/db.env"
        perms       = "0600"
        change_mode = "noop"
      }

      resources {
        cpu    = 50
        memory = 64
      }
    }
  }
}
