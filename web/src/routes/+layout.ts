// A single-page app: the control plane serves index.html for every /ui path (no server rendering).
export const ssr = false;
export const prerender = false;
export const trailingSlash = 'never';
