/** RFC 4180 CSV: every field quoted when it needs to be; a leading =, +, -, @ is neutralised
 * so a spreadsheet never runs a value as a formula. */
export function toCsv(header: string[], rows: (string | number | null | undefined)[][]): string {
	const field = (value: string | number | null | undefined): string => {
		let text = value === null || value === undefined ? '' : String(value);
		if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
		return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
	};
	return [header, ...rows].map((row) => row.map(field).join(',')).join('\r\n') + '\r\n';
}
