/**
 * The ACL token the UI sends: kept in localStorage under Nomad UI's key (`nomadTokenSecret`), set with the sign-in
 * field in the header, and added as `X-Nomad-Token` to every API request.
 */
export const TOKEN_KEY = 'nomadTokenSecret';

export interface TokenStore {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** `init` with the stored token's header added (unchanged when no token is stored). */
export function withToken(store: TokenStore, init: RequestInit = {}): RequestInit {
  const token = store.getItem(TOKEN_KEY);
  if (!token) return init;
  return { ...init, headers: { ...(init.headers as Record<string, string> | undefined), 'X-Nomad-Token': token } };
}

/** Wires the header's sign-in form: saving stores (or, empty, clears) the token and redraws with it. */
export function mountTokenForm(form: HTMLFormElement, store: TokenStore, onChange: () => void): void {
  const input = form.querySelector('input');
  if (!input) return;
  input.value = store.getItem(TOKEN_KEY) ?? '';
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = input.value.trim();
    if (v) store.setItem(TOKEN_KEY, v);
    else store.removeItem(TOKEN_KEY);
    onChange();
  });
}
