import { base } from '$app/paths';

/** The in-app path to return to after sign-in: only a path under /ui (no open redirect). */
export function safeNext(next: string | null): string {
	if (next === null) return base;
	if (!next.startsWith(`${base}/`) && next !== base) return base;
	if (next.startsWith('//') || next.includes('\\') || [...next].some((c) => c.charCodeAt(0) < 0x20)) return base;
	if (next.startsWith(`${base}/signin`)) return base;
	return next;
}

/** The sign-in page's URL that brings the user back to `here` afterwards. */
export function signInUrl(here: string): string {
	return `${base}/signin?next=${encodeURIComponent(here)}`;
}
