import { useMemo } from 'react';
import { BrowserRouter, Route, Routes } from 'react-router';
import Layout from './components/Layout.jsx';
import { AuthProvider } from './lib/auth.jsx';
import { readConfig } from './lib/config.js';
import { ConfigContext } from './lib/hooks.js';
import ActivityPage from './pages/ActivityPage.jsx';
import { ConfirmPage, RecoverPage, SignInPage, SignUpPage } from './pages/AuthPages.jsx';
import FeedPage from './pages/FeedPage.jsx';
import MessageGroupPage from './pages/MessageGroupPage.jsx';
import MessageGroupsPage from './pages/MessageGroupsPage.jsx';
import NotFoundPage from './pages/NotFoundPage.jsx';
import SearchPage from './pages/SearchPage.jsx';
import UserFeedPage from './pages/UserFeedPage.jsx';

export function AppRoutes() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<FeedPage title="Home" path="/api/activities/home" compose emptyText="No cruds yet." />} />
        <Route
          path="notifications"
          element={<FeedPage title="Notifications" path="/api/activities/notifications" emptyText="No notifications." />}
        />
        <Route path="search" element={<SearchPage />} />
        <Route path="messages" element={<MessageGroupsPage />} />
        <Route path="messages/new/:handle" element={<MessageGroupPage />} />
        <Route path="messages/:groupUuid" element={<MessageGroupPage />} />
        <Route path="signin" element={<SignInPage />} />
        <Route path="signup" element={<SignUpPage />} />
        <Route path="confirm" element={<ConfirmPage />} />
        <Route path="forgot" element={<RecoverPage />} />
        {/* "/@handle": react-router matches whole segments, so the page checks the "@". */}
        <Route path=":at" element={<UserFeedPage />} />
        <Route path=":at/status/:uuid" element={<ActivityPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  );
}

export default function App({ env }) {
  const config = useMemo(() => readConfig(env), [env]);
  return (
    <ConfigContext.Provider value={config}>
      <AuthProvider config={config}>
        <BrowserRouter>
          <AppRoutes />
        </BrowserRouter>
      </AuthProvider>
    </ConfigContext.Provider>
  );
}
