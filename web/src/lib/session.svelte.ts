// The signed-in admin: the token lives in sessionStorage (never localStorage), so it is gone
// when the tab closes and never reaches another origin. Every request carries it in the
// Authorization header (no cookies, so no CSRF).

export type Role = 'viewer' | 'operator' | 'admin';

const TOKEN_KEY = 'giru.adminToken';

export const session = $state<{ token: string | null; name: string; role: Role | null }>({
	token: null,
	name: '',
	role: null
});

export function restore(): void {
	session.token = sessionStorage.getItem(TOKEN_KEY);
}

export function remember(token: string, name: string, role: Role): void {
	sessionStorage.setItem(TOKEN_KEY, token);
	session.token = token;
	session.name = name;
	session.role = role;
}

export function forget(): void {
	sessionStorage.removeItem(TOKEN_KEY);
	session.token = null;
	session.name = '';
	session.role = null;
}

/** Whether the signed-in role may change things (viewers only read). */
export function canWrite(): boolean {
	return session.role === 'operator' || session.role === 'admin';
}
