export function percent(part: number, whole: number): string {
	if (whole === 0) return '—';
	return `${((100 * part) / whole).toFixed(part === 0 ? 0 : 1)}%`;
}

export function millis(value: number | null | undefined): string {
	return value === null || value === undefined ? '—' : `${value.toFixed(value < 10 ? 1 : 0)} ms`;
}

export function when(iso: string | null | undefined): string {
	if (!iso) return '—';
	const date = new Date(iso);
	return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function ago(iso: string | null | undefined, now: number = Date.now()): string {
	if (!iso) return 'never';
	const seconds = Math.round((now - new Date(iso).getTime()) / 1000);
	if (seconds < 60) return `${Math.max(seconds, 0)} s ago`;
	if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
	return `${Math.round(seconds / 3600)} h ago`;
}

/** The instant `seconds` before now, as the API's RFC 3339 query parameters take it. */
export function secondsAgo(seconds: number, now: number = Date.now()): string {
	return new Date(now - seconds * 1000).toISOString();
}

/** `url` when it is an absolute http(s) URL (a link the UI may show), else null. */
export function webUrl(url: string | null | undefined): string | null {
	if (!url) return null;
	try {
		const parsed = new URL(url);
		return parsed.protocol === 'http:' || parsed.protocol === 'https:' ? parsed.href : null;
	} catch {
		return null;
	}
}

/** A time given in seconds since the epoch (as connections report them), local and readable. */
export function epochWhen(seconds: number | null | undefined): string {
	return seconds === null || seconds === undefined ? '—' : new Date(seconds * 1000).toLocaleString();
}
