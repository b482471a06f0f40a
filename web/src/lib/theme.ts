// Theme: follows the system unless the user picks one (kept for the tab's session only).
export type Theme = 'light' | 'dark';
const KEY = 'giru.theme';

export function currentTheme(): Theme {
	const chosen = document.documentElement.dataset.theme;
	if (chosen === 'light' || chosen === 'dark') return chosen;
	return window.matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

export function applyTheme(theme: Theme | null): void {
	if (theme === null) delete document.documentElement.dataset.theme;
	else document.documentElement.dataset.theme = theme;
	if (theme === null) sessionStorage.removeItem(KEY);
	else sessionStorage.setItem(KEY, theme);
}

export function restoreTheme(): void {
	const saved = sessionStorage.getItem(KEY);
	if (saved === 'light' || saved === 'dark') document.documentElement.dataset.theme = saved;
}
