# The host volume the air-quality example's database keeps its data on (give this file to the dev agent with
# -config). The directory must exist and belong to the postgres user, the user the database task runs as:
#   install -d -o postgres -m 700 /tmp/drover-air-quality/pgdata
client {
  # PostgreSQL's data directory: it survives a task restart, `job stop -purge` and a re-run of the job.
  host_volume "air-quality-pgdata" {
    path = "/tmp/drover-air-quality/pgdata"
  }
}
