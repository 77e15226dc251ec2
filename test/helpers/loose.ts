/** Parsed YAML or JSON that a test walks by hand (deep paths into Kubernetes, compose or zone documents). */
// biome-ignore lint/suspicious/noExplicitAny: a schema per document a test reads would be noise
export type Loose = any;
