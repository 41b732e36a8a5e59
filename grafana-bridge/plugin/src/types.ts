import { DataSourceJsonData } from '@grafana/data';
import { DataQuery } from '@grafana/schema';

/** One panel, alert or annotation query; self-contained, as alerting needs. */
export interface TelemeshQuery extends DataQuery {
  /** Node name, a variable ($node, multi-value or All) or "*" for every node. */
  node?: string;
  /** First field; `fields` holds the others. "*" means every field of the node. */
  field?: string;
  fields?: string[];
  /** Alternative to node and fields: comma-separated node::field specs. */
  target?: string;
  /** Downsampling aggregation; empty uses the datasource's default. */
  agg?: string;
  /** Keep the panel live through Grafana Live. */
  live?: boolean;
  /** "" gives the node's unit; "panel" leaves the unit to the panel. */
  unit?: string;
  /** Most events of an annotation query (default and cap 1000, the latest kept). */
  limit?: number;
  /** "" for data, "annotations" for limit transitions and value events. */
  queryType?: string;
  /** Ad-hoc filters, copied in so that alerting sees them. */
  filters?: Array<{ key: string; operator: string; value: string; values?: string[] }>;
}

export const AGGREGATIONS = ['mean', 'min', 'max', 'last', 'minmax'];

export const DEFAULT_QUERY: Partial<TelemeshQuery> = { node: '*', fields: [], live: false };

/** Serializers the router speaks. */
export const SERIALIZERS = ['msgpack', 'json', 'cbor'];

/** A datasource's jsonData; the backend decodes it leniently. */
export interface TelemeshOptions extends DataSourceJsonData {
  url?: string;
  profile?: string;
  realm?: string;
  baseUri?: string;
  authid?: string;
  authmethod?: string;
  caFile?: string;
  serializer?: string;
  nodeTimeout?: number;
  defaultAgg?: string;
  serverName?: string;
  tlsSkipVerify?: boolean;
  tlsAuth?: boolean;
  tlsAuthWithCACert?: boolean;
}

/** Secrets, sent to the backend only. */
export interface TelemeshSecureOptions {
  secret?: string;
  tlsCACert?: string;
  tlsClientCert?: string;
  tlsClientKey?: string;
}

/** A template variable's query. */
export interface VariableQuery extends DataQuery {
  query: string;
}

/** A field as the fields resource describes it. */
export interface FieldDesc {
  name: string;
  type: string;
  units?: string;
  description?: string;
  timeline: string;
}
