import { act, fireEvent, render, screen } from '@testing-library/react';
import { describe, expect, it, vi } from 'vitest';
import { ApiError } from '../lib/api.js';
import ComposeForm from './ComposeForm.jsx';

function setup(props = {}) {
  const onSubmit = props.onSubmit || vi.fn(async () => {});
  render(<ComposeForm maxLength={280} onSubmit={onSubmit} {...props} />);
  return {
    onSubmit,
    textarea: screen.getByRole('textbox'),
    counter: () => screen.getByTestId('char-counter').textContent,
    button: () => screen.getByRole('button', { name: 'Crud' }),
  };
}

describe('ComposeForm character counter', () => {
  it('starts at 0 with submit disabled', () => {
    const f = setup();
    expect(f.counter()).toBe('0/280');
    expect(f.button().disabled).toBe(true);
  });

  it('counts characters live as the user types', () => {
    const f = setup();
    fireEvent.change(f.textarea, { target: { value: 'hello' } });
    expect(f.counter()).toBe('5/280');
    expect(f.button().disabled).toBe(false);
  });

  it('counts an emoji as one character', () => {
    const f = setup();
    fireEvent.change(f.textarea, { target: { value: 'hi 👋🏽' } });
    expect(f.counter()).toBe('5/280');
  });

  it('allows exactly the limit', () => {
    const f = setup();
    fireEvent.change(f.textarea, { target: { value: 'x'.repeat(280) } });
    expect(f.counter()).toBe('280/280');
    expect(f.button().disabled).toBe(false);
    expect(screen.queryByText(/over the limit/)).toBeNull();
  });

  it('disables submit and says so when over the limit', () => {
    const f = setup();
    fireEvent.change(f.textarea, { target: { value: 'x'.repeat(283) } });
    expect(f.counter()).toBe('283/280');
    expect(f.button().disabled).toBe(true);
    expect(screen.getByTestId('char-counter').className).toContain('over');
    expect(screen.getByText('3 characters over the limit of 280.')).toBeTruthy();
    fireEvent.submit(f.textarea.closest('form'));
    expect(f.onSubmit).not.toHaveBeenCalled();
  });

  it('keeps submit disabled for whitespace only', () => {
    const f = setup();
    fireEvent.change(f.textarea, { target: { value: '   ' } });
    expect(f.button().disabled).toBe(true);
  });

  it('uses the given limit (1024 for messages)', () => {
    render(<ComposeForm maxLength={1024} onSubmit={async () => {}} submitLabel="Send" />);
    fireEvent.change(screen.getByRole('textbox'), { target: { value: 'y'.repeat(1000) } });
    expect(screen.getByTestId('char-counter').textContent).toBe('1000/1024');
    expect(screen.getByRole('button', { name: 'Send' }).disabled).toBe(false);
  });

  it('submits the trimmed text and clears the form', async () => {
    const f = setup();
    fireEvent.change(f.textarea, { target: { value: '  a crud  ' } });
    await act(async () => {
      fireEvent.click(f.button());
    });
    expect(f.onSubmit).toHaveBeenCalledWith('a crud');
    expect(f.textarea.value).toBe('');
    expect(f.counter()).toBe('0/280');
  });

  it('shows the error and keeps the text when sending fails', async () => {
    const f = setup({ onSubmit: vi.fn(async () => { throw new ApiError('message too long', { kind: 'http', status: 422 }); }) });
    fireEvent.change(f.textarea, { target: { value: 'keep me' } });
    await act(async () => {
      fireEvent.click(f.button());
    });
    expect(screen.getByRole('alert').textContent).toContain('message too long');
    expect(f.textarea.value).toBe('keep me');
  });
});
