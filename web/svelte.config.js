import adapter from '@sveltejs/adapter-static';
import { vitePreprocess } from '@sveltejs/vite-plugin-svelte';

/** @type {import('@sveltejs/kit').Config} */
const config = {
	preprocess: vitePreprocess(),
	kit: {
		// Built into the Python package, which serves it at /ui (src/giru/console.py).
		adapter: adapter({
			pages: '../src/giru/ui',
			assets: '../src/giru/ui',
			fallback: 'index.html',
			precompress: true,
			strict: true
		}),
		paths: { base: '/ui', relative: false },
		appDir: '_app',
		output: { bundleStrategy: 'single' },
		version: { pollInterval: 0 }
	}
};

export default config;
