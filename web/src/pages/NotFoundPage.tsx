import { Link } from '../app/router';
import { PageTitle } from '../components/PageTitle';

export function NotFoundPage() {
  return (
    <section className="page__section">
      <PageTitle>Page not found</PageTitle>
      <p>There is nothing at this address.</p>
      <p>
        <Link to="/projects">Go to your projects</Link>
      </p>
    </section>
  );
}
