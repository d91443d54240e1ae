import { useState } from 'react';
import { useAuth } from '../auth/AuthContext';
import { Link } from './router';
import { useTheme } from './theme';

/** Header is the bar above every signed-in page: where to go and who you are. */
export function Header() {
  const { userName, logout } = useAuth();
  const { theme, toggle } = useTheme();
  const [leaving, setLeaving] = useState(false);
  const next = theme === 'dark' ? 'light' : 'dark';

  return (
    <header className="masthead">
      <Link to="/projects" className="masthead__brand" aria-label="Slipway home">
        <img src="/favicon.svg" alt="" width={24} height={24} />
        <span>Slipway</span>
      </Link>
      <nav className="masthead__nav" aria-label="Main">
        <Link to="/projects">Projects</Link>
        <Link to="/nodes">Nodes</Link>
        <Link to="/login-command">Login command</Link>
      </nav>
      <div className="masthead__tools">
        <button
          type="button"
          className="button button--plain button--icon"
          onClick={toggle}
          aria-label={`Switch to ${next} theme`}
          title={`Switch to ${next} theme`}
        >
          <span aria-hidden="true">{theme === 'dark' ? '☀' : '☾'}</span>
        </button>
        {userName && (
          <span className="masthead__user">
            <span className="masthead__avatar" aria-hidden="true">
              {userName.charAt(0).toUpperCase()}
            </span>
            <span className="visually-hidden">Logged in as </span>
            {userName}
          </span>
        )}
        <button
          type="button"
          className="button button--secondary"
          disabled={leaving}
          onClick={() => {
            setLeaving(true);
            void logout();
          }}
        >
          Log out
        </button>
      </div>
    </header>
  );
}
