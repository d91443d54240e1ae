import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import type { Node } from '../api/types';
import { App } from '../app/App';
import { collection, FakeServer, json, signedIn, status } from '../test/fakeServer';
import { pod } from '../test/objects';

function node(name: string, o: { ready?: boolean; cordoned?: boolean; pressure?: boolean } = {}): Node {
  return {
    kind: 'Node',
    metadata: { name, resourceVersion: '3' },
    spec: o.cordoned ? { unschedulable: true } : {},
    status: {
      capacity: { cpu: '4', memory: '8Gi', pods: '110' },
      allocatable: { cpu: '3800m', memory: '7Gi', pods: '110' },
      nodeInfo: { osImage: 'Debian GNU/Linux 12 (bookworm)', architecture: 'amd64', podNetwork: 'ovn' },
      conditions: [
        { type: 'Ready', status: o.ready === false ? 'False' : 'True' },
        { type: 'MemoryPressure', status: o.pressure ? 'True' : 'False' },
      ],
    },
  };
}

function open(setup?: (fake: FakeServer) => void) {
  const fake = new FakeServer().on('GET /api/v1/nodes', collection([node('n1'), node('n2', { ready: false, cordoned: true, pressure: true })]));
  setup?.(fake);
  signedIn(fake, '/nodes');
  render(<App fetch={fake.fetch} />);
  return fake;
}

describe('NodesPage', () => {
  it('shows capacity, allocatable and conditions', async () => {
    open();
    const table = await screen.findByRole('table', { name: 'Nodes' });
    await waitFor(() => expect(table.querySelectorAll('tr[data-node]')).toHaveLength(2));
    const n1 = within(table.querySelector<HTMLElement>('tr[data-node="n1"]')!);
    expect(n1.getByText('Ready')).toBeTruthy();
    expect(n1.getByText('3800m / 4')).toBeTruthy();
    expect(n1.getByText('7Gi / 8Gi')).toBeTruthy();
    expect(n1.getByText('Debian GNU/Linux 12 (bookworm), amd64, ovn network')).toBeTruthy();
    const n2 = within(table.querySelector<HTMLElement>('tr[data-node="n2"]')!);
    expect(n2.getByText('NotReady')).toBeTruthy();
    expect(n2.getByText('Cordoned')).toBeTruthy();
    expect(n2.getByText('MemoryPressure')).toBeTruthy();
    expect(n2.getByRole('button', { name: 'Uncordon node n2' })).toBeTruthy();
  });

  it('cordons with a merge patch of spec.unschedulable', async () => {
    const fake = open((f) => f.on('PATCH /api/v1/nodes/n1', json(node('n1', { cordoned: true }))));
    fireEvent.click(await screen.findByRole('button', { name: 'Cordon node n1' }));
    await waitFor(() => expect(fake.callsTo('PATCH /api/v1/nodes/n1')[0]?.body).toEqual({ spec: { unschedulable: true } }));
    expect(fake.callsTo('PATCH /api/v1/nodes/n1')[0]?.headers.get('Content-Type')).toBe('application/merge-patch+json');
  });

  it('drains: cordons, evicts the node’s pods, and shows which a disruption budget holds back', async () => {
    const onN1 = (name: string) => pod(name, 'web');
    const elsewhere = { ...pod('other', 'web'), spec: { containers: [], nodeName: 'n2' } };
    const fake = open((f) =>
      f
        .on('PATCH /api/v1/nodes/n1', json(node('n1', { cordoned: true })))
        .on('GET /api/v1/pods', collection([{ ...onN1('web-a'), spec: { ...onN1('web-a').spec, nodeName: 'n1' } }, { ...onN1('web-b'), spec: { ...onN1('web-b').spec, nodeName: 'n1' } }, elsewhere]))
        .on('POST /api/v1/projects/shop/pods/web-a/eviction', json({}))
        .on('POST /api/v1/projects/shop/pods/web-b/eviction', status(429, 'TooManyRequests', 'cannot evict pod "web-b": disruption budget "web" needs 2 healthy pods, 2 are: TooManyRequests')),
    );
    fireEvent.click(await screen.findByRole('button', { name: 'Drain node n1' }));
    const alert = await screen.findByText(/Drain of n1/);
    const box = alert.closest<HTMLElement>('.alert')!;
    await waitFor(() => expect(box.textContent).toContain('1 pod evicted.'));
    expect(box.textContent).toContain('shop/web-b waits: Cannot evict pod "web-b": disruption budget "web" needs 2 healthy pods');
    expect(fake.callsTo('POST /api/v1/projects/shop/pods/other/eviction')).toHaveLength(0);
    expect(fake.callsTo('POST /api/v1/projects/shop/pods/web-a/eviction')[0]?.body).toEqual({});
  });

  it('tells a non-admin the page is for cluster administrators', async () => {
    const fake = new FakeServer().on('GET /api/v1/nodes', status(403, 'Forbidden', 'forbidden: Forbidden'));
    signedIn(fake, '/nodes');
    render(<App fetch={fake.fetch} />);
    expect(await screen.findByText('Only cluster administrators can see the nodes.')).toBeTruthy();
  });
});
