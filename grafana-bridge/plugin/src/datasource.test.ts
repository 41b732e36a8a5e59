import {
  DataQueryRequest,
  DataSourceInstanceSettings,
  FieldConfigOptionsRegistry,
  FieldConfigPropertyItem,
  FieldType,
  applyFieldOverrides,
  createDataFrame,
  createTheme,
} from '@grafana/data';
import { lastValueFrom, of } from 'rxjs';

import { DataSource, annotationQuery } from './datasource';
import { templateSrv } from './testing';
import { TelemeshOptions, TelemeshQuery } from './types';

const vars = { node: ['sim', 'lab'], one: 'sim', field: ['co2', 'humidity'] };
const superQuery = jest.fn((req: DataQueryRequest<TelemeshQuery>) => of({ data: req.targets }));
const getResource = jest.fn();

jest.mock('@grafana/runtime', () => ({
  getTemplateSrv: () => templateSrv(vars),
  DataSourceWithBackend: class {
    constructor(public instanceSettings: unknown) {}
    query(req: DataQueryRequest<TelemeshQuery>) {
      return superQuery(req);
    }
    getResource(path: string, params?: unknown) {
      return getResource(path, params);
    }
  },
}));

const settings = { jsonData: { defaultAgg: 'max' } } as unknown as DataSourceInstanceSettings<TelemeshOptions>;

describe('DataSource', () => {
  it('interpolates multi-value and All variables as {a,b} sets, which the backend expands', () => {
    const ds = new DataSource(settings);
    const q = ds.applyTemplateVariables(
      { refId: 'A', node: '$node', fields: ['$field', 'temperature'], target: '$one::co2' },
      {},
      [{ key: 'node', operator: '>', value: 'a' }]
    );
    expect(q.node).toBe('{sim,lab}');
    expect(q.fields).toEqual(['{co2,humidity}', 'temperature']);
    expect(q.target).toBe('sim::co2');
    expect(q.filters).toEqual([{ key: 'node', operator: '>', value: 'a' }]);
  });

  it('has a default query and keeps only complete ones', () => {
    const ds = new DataSource(settings);
    expect(ds.getDefaultQuery('explore' as never)).toMatchObject({ node: '*' });
    expect(ds.defaultAgg).toBe('max');
    expect(ds.filterQuery({ refId: 'A', node: 'sim', fields: ['co2'] })).toBe(true);
    expect(ds.filterQuery({ refId: 'A', target: 'sim::co2' })).toBe(true);
    expect(ds.filterQuery({ refId: 'A', node: 'sim' })).toBe(false);
    expect(ds.filterQuery({ refId: 'A', node: 'sim', field: 'co2', hide: true })).toBe(false);
  });

  it("turns Explore's Live button into each query's live flag", async () => {
    const ds = new DataSource(settings);
    const req = { targets: [{ refId: 'A', node: 'sim', field: 'co2' }], liveStreaming: true } as unknown as DataQueryRequest<TelemeshQuery>;
    const resp = await lastValueFrom(ds.query(req));
    expect(resp.data).toEqual([{ refId: 'A', node: 'sim', field: 'co2', live: true }]);
    superQuery.mockClear();
    await lastValueFrom(ds.query({ ...req, liveStreaming: false }));
    expect(superQuery.mock.calls[0][0].targets[0].live).toBeUndefined();
  });

  it('answers variable queries through the lookup resource', async () => {
    getResource.mockResolvedValueOnce(['co2', 'humidity']);
    const ds = new DataSource(settings);
    const resp = await lastValueFrom(
      (ds.variables as any).query({ targets: [{ refId: 'v', query: 'fields($one)' }], scopedVars: {} })
    );
    expect(getResource).toHaveBeenCalledWith('lookup', { query: 'fields(sim)' });
    expect((resp as any).data).toEqual([
      { text: 'co2', value: 'co2' },
      { text: 'humidity', value: 'humidity' },
    ]);
  });

  it("makes every query of a dashboard's annotation an annotation query", () => {
    const ds = new DataSource(settings);
    const prepare = ds.annotations?.prepareQuery;
    expect(prepare).toBe(annotationQuery);
    const anno = { name: 'alarms', enable: true, iconColor: 'red', target: { refId: '', node: 'sim', field: 'co2', limit: 50 } };
    expect(prepare!(anno as any)).toEqual({ refId: 'Anno', node: 'sim', field: 'co2', limit: 50, queryType: 'annotations' });
    expect(prepare!({ name: 'empty', enable: true, iconColor: 'red' } as any)).toBeUndefined();
  });
});

// Grafana applies a panel's default unit only to fields without one (its
// own applyFieldOverrides, run here): "Unit: Panel's" queries send none.
describe('units', () => {
  const frame = (unit?: string) =>
    createDataFrame({
      refId: 'A',
      fields: [
        { name: 'time', type: FieldType.time, values: [1, 2] },
        { name: 'temperature', type: FieldType.number, values: [21.4, 21.5], config: { unit }, labels: { node: 'sim', field: 'temperature' } },
      ],
    });
  // The standard unit option as Grafana registers it (the registry itself
  // is filled by Grafana's app, which does not run here).
  const unitOption = {
    id: 'unit',
    path: 'unit',
    name: 'Unit',
    process: (v: unknown) => v,
    shouldApply: () => true,
    override: () => null,
    editor: () => null,
  } as unknown as FieldConfigPropertyItem;
  const apply = (unit?: string) =>
    applyFieldOverrides({
      data: [frame(unit)],
      fieldConfig: { defaults: { unit: 'fahrenheit' }, overrides: [] },
      fieldConfigRegistry: new FieldConfigOptionsRegistry(() => [unitOption]),
      replaceVariables: (s: string) => s,
      theme: createTheme(),
    })[0].fields[1];

  it("keeps the node's unit as a Grafana unit", () => {
    const f = apply('celsius');
    expect(f.config.unit).toBe('celsius');
    expect(f.display!(21.4).suffix?.trim()).toBe('°C');
  });

  it("lets the panel's default unit apply when the query leaves units to the panel", () => {
    const f = apply(undefined);
    expect(f.config.unit).toBe('fahrenheit');
    expect(f.display!(21.4).suffix?.trim()).toBe('°F');
  });
});
