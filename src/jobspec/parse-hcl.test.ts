import { describe, expect, it } from 'vitest';
import { isDroverError, type Problem } from '../errors/index.js';
import { canonicalizeJob, parseJobHCL, unsupportedFeatureWarnings, type ParseHCLOptions } from './index.js';

type Obj = Record<string, any>;

function parse(src: string, opts: ParseHCLOptions = {}): Obj {
  return parseJobHCL(src, { filename: 'test.nomad', ...opts }).job as unknown as Obj;
}

function problems(src: string, opts: ParseHCLOptions = {}): Problem[] {
  try {
    parseJobHCL(src, { filename: 'test.nomad', ...opts });
  } catch (e) {
    if (isDroverError(e)) return e.problems;
    throw e;
  }
  throw new Error('expected the job file to be rejected');
}

const OLD_STYLE = `
job "legacy" {
  datacenters = ["dc1"]
  update {
    stagger      = "30s"
    max_parallel = 1
  }
  group "cache" {
    task "redis" {
      driver = "docker"
      config {
        image = "redis:3.2"
        port_map {
          db = 6379
        }
      }
      env {
        REDIS_ADDR = "\${NOMAD_IP_db}:\${NOMAD_PORT_db}"
      }
      resources {
        cpu    = 500
        memory = 256
        network {
          mbits = 10
          port "db" {}
        }
      }
      service {
        name = "redis-cache"
        tags = ["global", "cache"]
        port = "db"
        check {
          name     = "alive"
          type     = "tcp"
          interval = "10s"
          timeout  = "2s"
        }
      }
      service {
        name = "no-port"
      }
    }
  }
}
`;

describe('parseJobHCL', () => {
  it('decodes a Nomad 0.8 style job with port_map, a task-level network and update stagger', () => {
    const job = parse(OLD_STYLE);
    const task = job.TaskGroups[0].Tasks[0];
    expect(job.Update).toEqual({ Stagger: 30e9, MaxParallel: 1 });
    expect(task.Config.port_map).toEqual([{ db: 6379 }]);
    expect(task.Resources.Networks).toEqual([{ MBits: 10, DynamicPorts: [{ Label: 'db', Value: 0 }] }]);
    expect(task.Env).toEqual({ REDIS_ADDR: '${NOMAD_IP_db}:${NOMAD_PORT_db}' });
    expect(task.Services.map((s: Obj) => s.PortLabel)).toEqual(['db', undefined]);
    expect(problemsOrNone(() => parseJobHCL(OLD_STYLE, { validate: true }))).toEqual([]);
  });

  it('reports every problem of a file in one run, each with its position and block path', () => {
    const src = `job "web" {
  group "api" {
    count = -1
    task "srv" {
      driver  = "docker"
      colour  = "blue"
      resources {
        cpu = "lots"
      }
      gadget {}
    }
  }
}
`;
    const ps = problems(src);
    expect(ps.map((p) => [p.line, p.column, p.block])).toEqual([
      [6, 7, 'job "web" > group "api" > task "srv"'],
      [8, 15, 'job "web" > group "api" > task "srv" > resources'],
      [10, 7, 'job "web" > group "api" > task "srv"'],
      [3, 13, 'job "web" > group "api"'],
    ]);
    expect(ps[0]?.message).toContain('"colour"');
    expect(ps[1]?.message).toContain('number required');
    expect(ps[2]?.message).toContain('"gadget"');
    expect(ps[3]?.message).toContain('must not be negative');
    expect(ps.every((p) => p.file === 'test.nomad')).toBe(true);
  });

  it('rejects a port label that no network defines', () => {
    const src = `job "web" {
  group "api" {
    network {
      port "http" {}
    }
    service {
      port = "https"
    }
    task "srv" {
      driver = "docker"
      config {
        ports = ["http", "admin"]
      }
    }
  }
}`;
    const msgs = problems(src).map((p) => p.message);
    expect(msgs).toHaveLength(2);
    expect(msgs[0]).toContain('"https"');
    expect(msgs[1]).toContain('"admin"');
  });

  it('rejects duplicate group and task names', () => {
    const src = `job "web" {
  group "a" {
    task "t" { driver = "docker" }
    task "t" { driver = "docker" }
  }
  group "a" {
    task "u" { driver = "docker" }
  }
}`;
    const msgs = problems(src).map((p) => p.message);
    expect(msgs.some((m) => m.includes('Duplicate task "t"'))).toBe(true);
    expect(msgs.some((m) => m.includes('Duplicate group "a"'))).toBe(true);
  });

  it('takes variables from the environment, var files and -var, in that order of precedence', () => {
    const src = `variable "a" { default = "default" }
variable "b" { default = "default" }
variable "c" { default = "default" }
variable "n" {
  type    = number
  default = 1
}
job "v" {
  meta {
    a = var.a
    b = var.b
    c = var.c
    n = var.n + 1
  }
}`;
    const job = parse(src, {
      env: { NOMAD_VAR_a: 'env', DROVER_VAR_b: 'env', NOMAD_VAR_c: 'env' },
      varFiles: [{ name: 'x.vars.hcl', content: 'b = "file"\nc = "file"\n' }],
      variables: { c: 'flag', n: '41' },
    });
    expect(job.Meta).toEqual({ a: 'env', b: 'file', c: 'flag', n: '42' });
  });

  it('rejects an undeclared -var and warns about an undeclared var-file entry', () => {
    const src = 'job "v" {}';
    expect(problems(src, { variables: { nope: '1' } })[0]?.message).toContain('Undefined -var variable');
    const { warnings } = parseJobHCL(src, { varFileContent: 'nope = 1\n' });
    expect(warnings[0]).toContain('Undefined variable');
  });

  it('converts -var values to the declared type and rejects values that do not fit', () => {
    const src = `variable "dcs" {
  type = list(string)
}
variable "count" {
  type    = number
  default = 1
}
job "t" {
  datacenters = var.dcs
  group "g" {
    count = var.count
  }
}`;
    const job = parse(src, { variables: { dcs: '["a", "b"]', count: '3' } });
    expect(job.Datacenters).toEqual(['a', 'b']);
    expect(job.TaskGroups[0].Count).toBe(3);
    expect(problems(src, { variables: { dcs: '["a"]', count: 'many' } })[0]?.message).toContain(
      'Invalid value for variable "count"',
    );
  });

  it('runs variable validation blocks', () => {
    const src = `variable "port" {
  type    = number
  default = 80
  validation {
    condition     = var.port > 1024
    error_message = "The port must be above 1024."
  }
}
job "v" {}`;
    expect(problems(src)[0]?.message).toContain('The port must be above 1024.');
    expect(() => parse(src, { variables: { port: '8080' } })).not.toThrow();
  });

  it('expands dynamic blocks with their iterator', () => {
    const src = `locals {
  ports = { http = 80, https = 443 }
}
job "d" {
  group "g" {
    network {
      dynamic "port" {
        for_each = local.ports
        labels   = [port.key]
        content {
          static = port.value
        }
      }
    }
  }
}`;
    const job = parse(src);
    expect(job.TaskGroups[0].Networks[0].ReservedPorts).toEqual([
      { Label: 'http', Value: 80 },
      { Label: 'https', Value: 443 },
    ]);
  });

  it('keeps runtime interpolations and $${} escapes as text, and reads heredocs', () => {
    const src = `job "h" {
  group "g" {
    task "t" {
      driver = "raw_exec"
      template {
        destination = "local/x"
        data        = <<EOH
host={{ env "attr.unique.hostname" }}
port=\${NOMAD_PORT_http}
EOH
      }
      env {
        NODE    = "\${node.unique.name}"
        LITERAL = "$\${not_interpolated}"
      }
    }
  }
}`;
    const t = parse(src).TaskGroups[0].Tasks[0];
    expect(t.Templates[0].EmbeddedTmpl).toBe('host={{ env "attr.unique.hostname" }}\nport=${NOMAD_PORT_http}\n');
    expect(t.Env).toEqual({ NODE: '${node.unique.name}', LITERAL: '${not_interpolated}' });
  });

  it('finds the position of a struct-level problem when asked to validate', () => {
    const src = `job "web" {
  group "api" {
    task "srv" {
      resources {
        memory = 5
      }
    }
  }
}`;
    expect(() => parse(src)).not.toThrow();
    const ps = problemsOrNone(() => parseJobHCL(src, { filename: 'test.nomad', validate: true }));
    expect(ps.map((p) => [p.path, p.line])).toEqual([
      ['TaskGroups[0].Tasks[0].Driver', 3],
      ['TaskGroups[0].Tasks[0].Resources.MemoryMB', 5],
    ]);
    expect(ps[1]?.block).toBe('job "web" > group "api" > task "srv" > resources');
  });

  it('turns sugar constraint attributes into operators', () => {
    const job = parse(`job "c" {
  constraint {
    distinct_hosts = true
  }
  constraint {
    distinct_property = "\${meta.rack}"
    value             = "2"
  }
  constraint {
    attribute = "\${attr.kernel.name}"
    regexp    = "linux|darwin"
  }
}`);
    expect(job.Constraints).toEqual([
      { LTarget: '', RTarget: 'true', Operand: 'distinct_hosts' },
      { LTarget: '${meta.rack}', RTarget: '2', Operand: 'distinct_property' },
      { LTarget: '${attr.kernel.name}', RTarget: 'linux|darwin', Operand: 'regexp' },
    ]);
  });

  it('accepts sizes with units for memory and disk, and plain numbers as MB', () => {
    const job = parse(`job "s" {
  group "g" {
    ephemeral_disk {
      size = "1GiB"
    }
    task "t" {
      driver = "exec"
      resources {
        memory     = "512MB"
        memory_max = 1024
      }
    }
  }
}`);
    expect(job.TaskGroups[0].EphemeralDisk.SizeMB).toBe(1024);
    expect(job.TaskGroups[0].Tasks[0].Resources).toMatchObject({ MemoryMB: 512, MemoryMaxMB: 1024 });
  });

  it('rejects env given both as a block and as an argument, in either order', () => {
    const twice = (first: string, second: string) => `job "e" {
  group "g" {
    task "t" {
      driver = "exec"
      ${first}
      ${second}
    }
  }
}`;
    const block = 'env { A = "1" }';
    const attr = 'env = { B = "2" }';
    expect(problems(twice(block, attr))[0]?.message).toContain('Duplicate env block');
    expect(problems(twice(attr, block))[0]?.message).toContain('Duplicate env block');
  });

  it('needs exactly one job block', () => {
    expect(problems('variable "x" { default = 1 }')[0]?.message).toContain('No job found');
    expect(problems('job "a" {}\njob "b" {}')[0]?.message).toContain('Duplicate job block');
  });
});

describe('unsupportedFeatureWarnings', () => {
  it('names each parsed block the build does not act on, once', () => {
    const job = canonicalizeJob(parseJobHCL(OLD_STYLE, {}).job);
    const all = unsupportedFeatureWarnings(job, new Set());
    expect(all.some((w) => w.includes('"service"'))).toBe(true);
    expect(new Set(all).size).toBe(all.length);
    const none = unsupportedFeatureWarnings(
      job,
      new Set([
        'update',
        'service',
        'check',
        'restart',
        'reschedule',
        'migrate',
        'ephemeral_disk',
        'logs',
        'network',
        'consul',
      ]),
    );
    expect(none).toEqual([]);
  });
});

function problemsOrNone(fn: () => unknown): Problem[] {
  try {
    fn();
    return [];
  } catch (e) {
    if (isDroverError(e)) return e.problems;
    throw e;
  }
}
