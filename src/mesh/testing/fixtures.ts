/** Shared by the mesh's tests and bench/mesh: a CA, leaves, and sidecar configs on loopback. */
import { meshSpiffeID, type Intention, type MeshSidecarMaterial } from '../../structs/index.js';
import { createMeshCA, issueLeaf } from '../ca.js';
import type { SidecarConfig, UpstreamConfig } from '../proxy.js';

export interface TestPKI {
  ca: { certPEM: string; keyPEM: string };
  material(
    service: string,
    intentions?: Intention[],
    defaultAction?: 'allow' | 'deny',
    namespace?: string,
  ): Promise<MeshSidecarMaterial>;
}

export async function testPKI(): Promise<TestPKI> {
  const ca = await createMeshCA();
  return {
    ca,
    async material(service, intentions = [], defaultAction = 'allow', namespace = 'default') {
      const now = Date.now();
      const leaf = await issueLeaf(ca, service, meshSpiffeID(namespace, service), now + 3_600_000, now);
      return {
        Service: service,
        Namespace: namespace,
        SpiffeID: meshSpiffeID(namespace, service),
        CertPEM: leaf.certPEM,
        KeyPEM: leaf.keyPEM,
        RootsPEM: ca.certPEM,
        ValidBefore: now + 3_600_000,
        Intentions: intentions,
        DefaultAction: defaultAction,
      };
    },
  };
}

export function intention(src: string, dst: string, action: 'allow' | 'deny'): Intention {
  return {
    ID: `${src}-${dst}`,
    SourceNS: 'default',
    SourceName: src,
    DestinationNS: 'default',
    DestinationName: dst,
    Action: action,
    Description: '',
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

export function inboundConfig(material: MeshSidecarMaterial, localServicePort: number): SidecarConfig {
  return {
    Service: material.Service,
    Namespace: 'default',
    Inbound: { BindAddress: '127.0.0.1', Port: 0, LocalServicePort: localServicePort },
    Upstreams: [],
    Material: material,
  };
}

export function outboundConfig(
  material: MeshSidecarMaterial,
  destination: string,
  instances: UpstreamConfig['Instances'],
): SidecarConfig {
  return {
    Service: material.Service,
    Namespace: 'default',
    Upstreams: [
      {
        DestinationName: destination,
        DestinationNamespace: 'default',
        LocalBindAddress: '127.0.0.1',
        LocalBindPort: 0,
        Instances: instances,
      },
    ],
    Material: material,
  };
}
