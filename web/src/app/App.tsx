import type { ReactNode } from 'react';
import { AuthProvider, useAuth } from '../auth/AuthContext';
import { CopyLoginCommandPage } from '../pages/CopyLoginCommandPage';
import { AppPage, isAppTab } from '../pages/AppPage';
import { ImportPage } from '../pages/ImportPage';
import { LoginPage } from '../pages/LoginPage';
import { NodesPage } from '../pages/NodesPage';
import { ProjectPage } from '../pages/ProjectPage';
import { NotFoundPage } from '../pages/NotFoundPage';
import { ProjectsPage } from '../pages/ProjectsPage';
import { Header } from './Header';
import { Redirect, Router, Routes, useLocation, type Route } from './router';
import { ThemeProvider } from './theme';

// The console's pages. A new page is one entry here plus its component
// under pages/ (project overview, app details, builds, nodes…).
const routes: Route[] = [
  { path: '/', render: () => <Redirect to="/projects" /> },
  { path: '/projects', render: () => <ProjectsPage /> },
  { path: '/login-command', render: () => <CopyLoginCommandPage /> },
  { path: '/nodes', render: () => <NodesPage /> },
  { path: '/projects/:project', render: (p) => <ProjectPage key={p.project} project={p.project ?? ''} tab="overview" /> },
  { path: '/projects/:project/import', render: (p) => <ImportPage key={p.project} project={p.project ?? ''} /> },
  { path: '/projects/:project/members', render: (p) => <ProjectPage key={p.project} project={p.project ?? ''} tab="members" /> },
  { path: '/projects/:project/apps/:app', render: (p) => <AppPage key={`${p.project}/${p.app}`} project={p.project ?? ''} app={p.app ?? ''} tab="pods" /> },
  {
    path: '/projects/:project/apps/:app/:tab',
    render: (p) => (isAppTab(p.tab ?? '') ? <AppPage key={`${p.project}/${p.app}`} project={p.project ?? ''} app={p.app ?? ''} tab={p.tab as never} /> : <NotFoundPage />),
  },
];

export function App({ fetch }: { fetch?: typeof globalThis.fetch }) {
  return (
    <ThemeProvider>
      <Router>
        <AuthProvider fetch={fetch}>
          <Shell />
        </AuthProvider>
      </Router>
    </ThemeProvider>
  );
}

function Shell() {
  const { token } = useAuth();
  const location = useLocation();
  if (location.pathname === '/login') return <LoginPage />;
  if (!token) {
    const then = location.pathname + location.search;
    return <Redirect to={then === '/' ? '/login' : `/login?then=${encodeURIComponent(then)}`} />;
  }
  return (
    <SignedIn>
      <Routes routes={routes} fallback={<NotFoundPage />} />
    </SignedIn>
  );
}

function SignedIn({ children }: { children: ReactNode }) {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" className="page" tabIndex={-1}>
        {children}
      </main>
    </>
  );
}
