// The server form's model: an MCPServer manifest as form fields and back, and the problems a
// dry run of `POST /api/v1/apply` reports (`{field, reason}`, the very paths and reasons
// `giru apply` prints for the same manifest) placed next to the field they name.
import { api, problemText, type Schemas } from '$lib/api/client';

export const API_VERSION = 'giru.ai/v1alpha1';
export const TRANSPORTS = ['streamable-http', 'sse', 'stdio'] as const;

type Spec = Record<string, unknown>;
export type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: Spec };
export type FieldProblem = { field: string; reason: string };

/** What the form edits; everything else in the spec (auth, tools, ...) is kept as it was. */
export type ServerFields = {
	name: string;
	transport: string;
	url: string;
	headers: string; // one `Name: value` a line
	command: string;
	args: string; // one argument a line
	env: string; // one `NAME=value` a line
	cwd: string;
	tags: string; // comma-separated
	enabled: boolean;
	isolation: string;
	era: string;
	trust: string;
	connect: string;
	call: string;
	callMax: string;
	keepStale: boolean;
};

/** The form inputs, by the manifest path whose problems are shown beside them. */
export const FIELD_PATHS: Record<string, keyof ServerFields> = {
	'metadata.name': 'name',
	'spec.transport': 'transport',
	'spec.url': 'url',
	'spec.headers': 'headers',
	'spec.command': 'command',
	'spec.args': 'args',
	'spec.env': 'env',
	'spec.cwd': 'cwd',
	'spec.tags': 'tags',
	'spec.enabled': 'enabled',
	'spec.isolation': 'isolation',
	'spec.era': 'era',
	'spec.trust': 'trust',
	'spec.timeouts.connect': 'connect',
	'spec.timeouts.callMax': 'callMax',
	'spec.timeouts.call': 'call',
	'spec.catalog.keepStale': 'keepStale'
};

function text(value: unknown): string {
	return value === undefined || value === null ? '' : String(value);
}

function record(value: unknown): Spec {
	return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Spec) : {};
}

/** The form's fields for a stored spec (an empty form for a new server). */
export function fieldsOf(name: string, spec: Spec = {}): ServerFields {
	const timeouts = record(spec.timeouts);
	const headers = Object.entries(record(spec.headers)).map(([k, v]) => `${k}: ${text(v)}`);
	const env = Object.entries(record(spec.env)).map(([k, v]) => `${k}=${text(v)}`);
	return {
		name,
		transport: text(spec.transport) || 'streamable-http',
		url: text(spec.url),
		headers: headers.join('\n'),
		command: text(spec.command),
		args: Array.isArray(spec.args) ? spec.args.map(text).join('\n') : '',
		env: env.join('\n'),
		cwd: text(spec.cwd),
		tags: Array.isArray(spec.tags) ? spec.tags.map(text).join(', ') : '',
		enabled: spec.enabled !== false,
		isolation: text(spec.isolation) || 'shared',
		era: text(spec.era) || 'auto',
		trust: text(spec.trust) || 'pin',
		connect: text(timeouts.connect),
		call: text(timeouts.call),
		callMax: text(timeouts.callMax),
		keepStale: record(spec.catalog).keepStale !== false
	};
}

function lines(value: string): string[] {
	return value
		.split('\n')
		.map((line) => line.trim())
		.filter((line) => line !== '');
}

/** `Name: value` (or `NAME=value`) lines as a mapping; a line without the separator is a key
 * with an empty value, for the server to judge. */
function pairs(value: string, separator: string): Record<string, string> {
	const found: Record<string, string> = {};
	for (const line of lines(value)) {
		const at = line.indexOf(separator);
		const key = (at < 0 ? line : line.slice(0, at)).trim();
		found[key] = at < 0 ? '' : line.slice(at + separator.length).trim();
	}
	return found;
}

/** A duration as typed: a number of seconds stays a number, `30s`/`2m` stay text. */
function duration(value: string): unknown {
	const trimmed = value.trim();
	if (trimmed === '') return undefined;
	return /^\d+(\.\d+)?$/.test(trimmed) ? Number(trimmed) : trimmed;
}

function optional(value: string): string | undefined {
	return value.trim() === '' ? undefined : value.trim();
}

/** The manifest the fields describe: `kept`'s other spec fields (auth, tools, ...) unchanged,
 * the transport's fields set and the other transport's removed. */
export function manifestOf(fields: ServerFields, kept: Spec = {}): Manifest {
	const stdio = fields.transport === 'stdio';
	const timeouts: Spec = { ...record(kept.timeouts) };
	for (const key of ['connect', 'call', 'callMax'] as const) {
		const value = duration(fields[key]);
		if (value === undefined) delete timeouts[key];
		else timeouts[key] = value;
	}
	const headers = pairs(fields.headers, ':');
	const env = pairs(fields.env, '=');
	const spec: Spec = {
		...kept,
		transport: fields.transport,
		url: stdio ? undefined : optional(fields.url),
		headers: stdio || Object.keys(headers).length === 0 ? undefined : headers,
		command: stdio ? optional(fields.command) : undefined,
		args: stdio && lines(fields.args).length > 0 ? lines(fields.args) : undefined,
		env: stdio && Object.keys(env).length > 0 ? env : undefined,
		cwd: stdio ? optional(fields.cwd) : undefined,
		tags: fields.tags
			.split(',')
			.map((tag) => tag.trim())
			.filter((tag) => tag !== ''),
		enabled: fields.enabled,
		isolation: fields.isolation,
		era: fields.era,
		trust: fields.trust,
		timeouts,
		catalog: { ...record(kept.catalog), keepStale: fields.keepStale }
	};
	for (const key of Object.keys(spec)) if (spec[key] === undefined || spec[key] === null) delete spec[key];
	return { apiVersion: API_VERSION, kind: 'MCPServer', metadata: { name: fields.name.trim() }, spec };
}

/** Problems by the form field they name: its path, or a path under it (`spec.args[1]`). Those
 * of fields the form does not show (auth, tools, ...) are only in the list of all problems. */
export function placeProblems(problems: FieldProblem[]): {
	byField: Partial<Record<keyof ServerFields, FieldProblem[]>>;
} {
	const byField: Partial<Record<keyof ServerFields, FieldProblem[]>> = {};
	for (const problem of problems) {
		const path = Object.keys(FIELD_PATHS).find(
			(p) => problem.field === p || problem.field.startsWith(`${p}.`) || problem.field.startsWith(`${p}[`)
		);
		const key = path === undefined ? undefined : FIELD_PATHS[path];
		if (key !== undefined) (byField[key] ??= []).push(problem);
	}
	return { byField };
}

/** How `giru apply` prints a problem (after its `file:index: Kind/name: `). */
export function problemLine(problem: FieldProblem): string {
	return `${problem.field || '(document)'}: ${problem.reason}`;
}

export type Applied =
	| { ok: true; line: string }
	| { ok: false; problems: FieldProblem[]; message: string };

/** `POST /api/v1/apply` with one document (`dryRun`: validate only, write nothing). The result
 * line reads like `giru apply`'s (`mcpserver/files created (dry run)`). */
export async function applyManifest(document: Manifest, dryRun: boolean): Promise<Applied> {
	const { data, error, response } = await api.POST('/api/v1/apply', {
		params: { query: { dryRun } },
		body: { documents: [document as Schemas['MCPServerDocument']], prune: false }
	});
	if (data) {
		const result = data.results[0];
		const label = `${(result?.kind ?? document.kind).toLowerCase()}/${result?.name ?? document.metadata.name}`;
		return { ok: true, line: `${label} ${result?.action ?? 'unchanged'}${dryRun ? ' (dry run)' : ''}` };
	}
	const found = (error as { errors?: unknown } | undefined)?.errors;
	const problems = Array.isArray(found)
		? (found as { field?: unknown; reason?: unknown }[]).map((e) => ({ field: text(e.field), reason: text(e.reason) }))
		: [];
	return { ok: false, problems, message: problemText(error, response.status) };
}
