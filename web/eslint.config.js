import js from '@eslint/js';
import svelte from 'eslint-plugin-svelte';
import globals from 'globals';
import ts from 'typescript-eslint';
import svelteConfig from './svelte.config.js';

export default ts.config(
	{ ignores: ['.svelte-kit/', 'build/', 'node_modules/', 'src/lib/api/schema.d.ts'] },
	js.configs.recommended,
	...ts.configs.recommended,
	...svelte.configs.recommended,
	{ languageOptions: { globals: { ...globals.browser, ...globals.node } } },
	{
		files: ['**/*.svelte', '**/*.svelte.ts'],
		languageOptions: {
			parserOptions: { projectService: true, extraFileExtensions: ['.svelte'], parser: ts.parser, svelteConfig }
		}
	},
	{
		rules: {
			// {@html} would defeat the XSS guarantee: every value renders as text.
			'svelte/no-at-html-tags': 'error',
			// Links and goto() targets are built from `base` (paths.base = '/ui') by hand.
			'svelte/no-navigation-without-resolve': 'off',
			'no-restricted-globals': ['error', { name: 'localStorage', message: 'the admin token lives in sessionStorage only' }]
		}
	}
);
