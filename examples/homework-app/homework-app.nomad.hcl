# The seeds' two-app homework job: a jobs app (app_a, port 5000) that asks an auth app (app_b, port 5001,
# tokens in SQLite) to validate the caller's Authorization token. As in the seed, both containers use the
# host's network, so the jobs app reaches the auth app on the loopback; the address is also passed through
# the job (AUTH_URL) rather than baked into the image.
#
# Images are built locally, nothing is pulled:   scripts/build-test-images.sh
# Try it:   curl -X POST -H 'Authorization: mytoken' http://127.0.0.1:5000/jobs

job "homework_app" {
  datacenters = ["dc1"]
  type        = "service"

  group "app_b" {
    count = 1

    network {
      port "auth" {
        static = 5001
      }
    }

    task "app_b" {
      driver = "docker"

      config {
        image        = "drover-test/auth-app:latest"
        network_mode = "host"
        ports        = ["auth"]
      }

      env {
        PORT        = "${NOMAD_PORT_auth}"
        AUTH_TOKENS = "mytoken"
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }

  group "app_a" {
    count = 1

    network {
      port "http" {
        static = 5000
      }
    }

    task "app_a" {
      driver = "docker"

      config {
        image        = "drover-test/jobs-app:latest"
        network_mode = "host"
        ports        = ["http"]
      }

      env {
        PORT     = "${NOMAD_PORT_http}"
        AUTH_URL = "http://127.0.0.1:5001/auth"
      }

      resources {
        cpu    = 200
        memory = 128
      }
    }
  }
}
