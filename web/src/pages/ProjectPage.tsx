import { Link } from '../app/router';
import { PageTitle } from '../components/PageTitle';
import { MembersTab } from '../project/MembersTab';
import { OverviewTab } from '../project/OverviewTab';

export type ProjectTab = 'overview' | 'members';

const tabs: { id: ProjectTab; label: string; suffix: string }[] = [
  { id: 'overview', label: 'Overview', suffix: '' },
  { id: 'members', label: 'Members', suffix: '/members' },
];

/** ProjectPage is a project's home: its apps, and who may do what in it. */
export function ProjectPage({ project, tab }: { project: string; tab: ProjectTab }) {
  const base = `/projects/${encodeURIComponent(project)}`;
  return (
    <section className="page__section">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to="/projects">Projects</Link>
        <span aria-hidden="true">/</span>
        <span>{project}</span>
      </nav>
      <div className="page__header">
        <PageTitle title={`${project} · ${tabs.find((t) => t.id === tab)?.label ?? ''}`}>{project}</PageTitle>
      </div>
      <TabLinks label="Project sections" base={base} tabs={tabs} current={tab} />
      {tab === 'overview' && <OverviewTab project={project} />}
      {tab === 'members' && <MembersTab project={project} />}
    </section>
  );
}

/**
 * TabLinks are tabs that are links: each has its own URL (bookmarks, the
 * back button), the current one is marked aria-current.
 */
export function TabLinks<T extends string>({ label, base, tabs, current }: { label: string; base: string; tabs: { id: T; label: string; suffix: string }[]; current: T }) {
  return (
    <nav aria-label={label} className="tabs">
      {tabs.map((t) => (
        <Link key={t.id} to={base + t.suffix} className={`tabs__tab${t.id === current ? ' tabs__tab--current' : ''}`} aria-current={t.id === current ? 'page' : undefined}>
          {t.label}
        </Link>
      ))}
    </nav>
  );
}
