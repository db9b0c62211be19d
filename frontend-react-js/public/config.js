// The production container replaces this file at start with its settings
// (docker-entrypoint.sh sets window.__CRUDDUR_CONFIG__). Served as it is by the
// dev server and `vite preview`, it sets nothing: the app then reads Vite's
// REACT_APP_* variables (src/lib/config.js).
