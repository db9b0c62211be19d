import { Component } from 'react';

/** Shows a readable alert instead of a blank page if a page throws while rendering. */
export default class ErrorBoundary extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }

  static getDerivedStateFromError(error) {
    return { error };
  }

  componentDidUpdate(prev) {
    if (this.state.error && prev.resetKey !== this.props.resetKey) this.setState({ error: null });
  }

  render() {
    if (this.state.error) {
      return (
        <div role="alert" className="alert">
          <span className="alert-text">
            Something went wrong showing this page ({String(this.state.error.message || this.state.error)}).
          </span>
        </div>
      );
    }
    return this.props.children;
  }
}
