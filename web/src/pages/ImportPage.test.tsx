import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { appName, guessBuilder, importObjects, validateGitURL, webhookURLs, type BuildConfig } from '../api/builds';
import type { Deployment, Route, Service } from '../api/types';
import { App } from '../app/App';
import { parseEnv } from '../builds/importForm';
import { collection, FakeServer, json, signedIn, status, WatchFeed, type Call } from '../test/fakeServer';
import { build } from '../test/objects';

describe('import helpers', () => {
  it('validates Git URLs as the server does, names and guesses', () => {
    expect(validateGitURL('https://github.com/shop/web.git#main')).toBeNull();
    expect(validateGitURL('git@github.com:shop/web.git')).toBeNull();
    expect(validateGitURL('file:///srv/git/site')).toBeNull();
    expect(validateGitURL('ftp://x/y')).toMatch(/not ftp/);
    expect(validateGitURL('shop web')).toMatch(/no spaces/);
    expect(validateGitURL('')).toBe('Enter the repository’s URL.');
    expect(appName('https://github.com/shop/My_Web.Site.git')).toBe('my-web-site');
    expect(appName('git@host:team/api.git')).toBe('api');
    expect(guessBuilder('https://github.com/shop/api-go.git')).toBe('go');
    expect(guessBuilder('https://github.com/shop/flask-shop')).toBe('python');
    expect(guessBuilder('https://github.com/shop/site')).toBe('static');
    expect(parseEnv('A=1\n\nB = two=2')).toEqual({ env: [{ name: 'A', value: '1' }, { name: 'B', value: ' two=2' }], problem: null });
    expect(parseEnv('A=1\nA=2').problem).toBe('Line 2: A is set twice.');
    expect(parseEnv('oops').problem).toBe('Line 1: write NAME=value.');
  });

  it('shapes the objects as slip new-app does', () => {
    const o = importObjects({ project: 'shop', name: 'site', gitURL: 'https://git.test/site.git#live', contextDir: '', builder: 'static', port: 8080, env: [], route: true, routeHost: '', registryHost: 'slipway.test:8443' });
    expect(o.deployment.spec.template.spec.containers[0]?.image).toBe('slipway.test:8443/shop/site:latest');
    expect(o.deployment.spec.triggers).toEqual([{ type: 'ImageChange', imageChange: { from: 'site:latest', containerNames: ['site'], automatic: true } }]);
    expect(o.service.spec.ports).toEqual([{ name: 'http', port: 8080, targetPort: 'http' }]);
    expect(o.route?.spec).toEqual({ to: { kind: 'Service', name: 'site' }, tls: { termination: 'edge', insecureEdgeTerminationPolicy: 'Redirect' } });
    expect(o.buildConfig.spec.source).toEqual({ type: 'Git', git: { uri: 'https://git.test/site.git', ref: 'live' } });
    expect(o.buildConfig.spec.strategy.sourceStrategy?.from).toEqual({ kind: 'ImageStreamTag', namespace: 'slipway-system', name: 's2i-static:latest' });
    expect(o.buildConfig.spec.triggers?.map((t) => t.type)).toEqual(['GitHub', 'GitLab', 'Generic', 'ImageChange', 'ConfigChange']);
    expect(o.buildConfig.spec.triggers?.[0]?.github?.secret).toMatch(/^[0-9a-f]{32}$/);
    const urls = webhookURLs('https://slipway.test', 'shop', o.buildConfig);
    expect(urls.map((u) => u.url?.replace(/[0-9a-f]{32}/, 'S'))).toEqual([
      'https://slipway.test/api/v1/projects/shop/buildconfigs/site/webhooks/S/github',
      'https://slipway.test/api/v1/projects/shop/buildconfigs/site/webhooks/S/gitlab',
      'https://slipway.test/api/v1/projects/shop/buildconfigs/site/webhooks/S/generic',
    ]);
  });
});

function open() {
  const builds = new WatchFeed();
  const deployments = new WatchFeed();
  const routes = new WatchFeed();
  let logCalls = 0;
  const fake = new FakeServer()
    .on('GET /api/v1', json({ resources: [{ name: 'buildconfigs' }, { name: 'builds' }] }))
    .on('POST /api/v1/projects/shop/deployments', (c: Call) => json(c.body, 201))
    .on('POST /api/v1/projects/shop/services', status(409, 'AlreadyExists', 'service "site" already exists: AlreadyExists'), (c: Call) => json(c.body, 201))
    .on('POST /api/v1/projects/shop/routes', (c: Call) => json(c.body, 201))
    .on('POST /api/v1/projects/shop/buildconfigs', (c: Call) => json(c.body, 201))
    .on('GET /api/v1/projects/shop/builds', collection([], builds))
    .on('GET /api/v1/projects/shop/deployments', collection([], deployments))
    .on('GET /api/v1/projects/shop/routes', collection([], routes))
    .on('GET /api/v1/projects/shop/builds/site-1/log', () => {
      logCalls++;
      return new Response('Cloning https://git.test/site.git\n---> Installing the site\nPushed shop/site:latest\n');
    });
  signedIn(fake, '/projects/shop/import');
  render(<App fetch={fake.fetch} />);
  return { fake, builds, deployments, routes, logCalls: () => logCalls };
}

describe('ImportPage', () => {
  it('validates, creates the four objects, retries a failed step, follows the build to the URL', async () => {
    const { fake, builds, deployments, routes } = open();
    const form = await screen.findByRole('form', { name: 'Import from Git' });
    fireEvent.click(within(form).getByRole('button', { name: 'Create' }));
    expect(await within(form).findByText('Enter the repository’s URL.')).toBeTruthy();
    fireEvent.change(within(form).getByLabelText('Git repository URL'), { target: { value: 'https://git.test/site.git' } });
    expect((within(form).getByLabelText('Name') as HTMLInputElement).value).toBe('site');
    expect((within(form).getByLabelText('Builder') as HTMLSelectElement).value).toBe('static');
    fireEvent.change(within(form).getByLabelText('Port'), { target: { value: '99999' } });
    fireEvent.change(within(form).getByLabelText('Environment variables'), { target: { value: 'GREETING=hi\nbad line' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create' }));
    expect(await within(form).findByText('Enter the port the app listens on, 1 to 65535.')).toBeTruthy();
    expect(within(form).getByText('Line 2: write NAME=value.')).toBeTruthy();
    expect(fake.calls.filter((c) => c.method === 'POST')).toHaveLength(0);

    fireEvent.change(within(form).getByLabelText('Port'), { target: { value: '8080' } });
    fireEvent.change(within(form).getByLabelText('Environment variables'), { target: { value: 'GREETING=hi' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create' }));
    const failed = await screen.findByText(/Service "site" already exists/);
    expect(failed.closest('[data-step]')?.getAttribute('data-step')).toBe('Service');
    expect(fake.callsTo('POST /api/v1/projects/shop/buildconfigs')).toHaveLength(0);
    fireEvent.click(screen.getByRole('button', { name: 'Try again' }));
    await screen.findByText('Build and deploy');
    expect(fake.callsTo('POST /api/v1/projects/shop/deployments')).toHaveLength(1);
    expect(fake.callsTo('POST /api/v1/projects/shop/services')).toHaveLength(2);
    expect((fake.callsTo('POST /api/v1/projects/shop/deployments')[0]?.body as Deployment).spec.template.spec.containers[0]?.env).toEqual([{ name: 'GREETING', value: 'hi' }]);
    expect((fake.callsTo('POST /api/v1/projects/shop/buildconfigs')[0]?.body as BuildConfig).metadata.name).toBe('site');
    // The page follows only its build configuration's builds (once it has
    // asked for them: the list may come a moment after the steps).
    await waitFor(() =>
      expect(fake.callsTo('GET /api/v1/projects/shop/builds').map((c) => c.url.searchParams.get('labelSelector'))).toContain('slipway.io/buildconfig=site'),
    );

    await waitFor(() => expect(builds.open).toBe(1));
    builds.send('ADDED', build('site', 1, 'Pending'));
    expect(await screen.findByText(/Build site-1 is starting/)).toBeTruthy();
    builds.send('MODIFIED', { ...build('site', 1, 'Running'), metadata: { ...build('site', 1, 'Running').metadata, resourceVersion: '30' } });
    await waitFor(() => expect(screen.getByRole('log', { name: 'Log of site-1' }).textContent).toContain('Pushed shop/site:latest'));
    builds.send('MODIFIED', { ...build('site', 1, 'Complete'), metadata: { ...build('site', 1, 'Complete').metadata, resourceVersion: '31' } });
    await screen.findByText('Build site-1: Complete');
    const dep = fake.callsTo('POST /api/v1/projects/shop/deployments')[0]?.body as Deployment;
    deployments.send('ADDED', { ...dep, metadata: { ...dep.metadata, resourceVersion: '40' }, status: { readyReplicas: 1 } });
    const rt = fake.callsTo('POST /api/v1/projects/shop/routes')[0]?.body as Route;
    routes.send('ADDED', { ...rt, metadata: { ...rt.metadata, resourceVersion: '41' }, status: { ingress: [{ routerName: 'default', host: 'site-shop.apps.test', conditions: [{ type: 'Admitted', status: 'True' }] }] } });
    const link = await screen.findByTestId('app-url');
    expect(link.getAttribute('href')).toBe('https://site-shop.apps.test');
    expect((fake.callsTo('POST /api/v1/projects/shop/services')[1]?.body as Service).spec.selector).toEqual({ app: 'site' });
  });
});
