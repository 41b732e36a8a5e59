import React, { useEffect, useMemo, useState } from 'react';
import { QueryEditorProps, SelectableValue } from '@grafana/data';
import { getTemplateSrv } from '@grafana/runtime';
import { InlineField, InlineSwitch, Input, MultiSelect, RadioButtonGroup, Select, Stack } from '@grafana/ui';

import { DataSource } from '../datasource';
import { AGGREGATIONS, FieldDesc, TelemeshOptions, TelemeshQuery } from '../types';

type Props = QueryEditorProps<DataSource, TelemeshQuery, TelemeshOptions>;

const TYPES = [
  { label: 'Data', value: '' },
  {
    label: 'Annotations',
    value: 'annotations',
    description: 'limit transitions of fields with limits (warning and alarm as regions), value events of the others',
  },
];
/** The most annotations a query returns (bridge.DefaultEventLimit). */
export const EVENT_LIMIT = 1000;
const UNITS = [
  { label: "Node's", value: '', description: 'the unit the node declares, as a Grafana unit' },
  { label: "Panel's", value: 'panel', description: "no unit from the datasource: the panel's unit applies" },
];
const EVERY = { label: '* (every)', value: '*' };

function variableOptions(): Array<SelectableValue<string>> {
  return getTemplateSrv()
    .getVariables()
    .map((v) => ({ label: '$' + v.name, value: '$' + v.name }));
}

/** The fields a query selects: field first, then fields. */
export function selectedFields(q: TelemeshQuery): string[] {
  return [q.field, ...(q.fields ?? [])].filter((f): f is string => !!f);
}

/** Query editor: node and field pickers (several fields, *, variables). */
export function QueryEditor({ datasource, query, onChange, onRunQuery }: Props) {
  const [nodes, setNodes] = useState<string[]>([]);
  const [fields, setFields] = useState<FieldDesc[]>([]);
  const vars = useMemo(variableOptions, []);
  const node = query.node ?? '';

  useEffect(() => {
    datasource.getResource<string[]>('nodes').then(setNodes, () => setNodes([]));
  }, [datasource]);
  useEffect(() => {
    if (!node || node === '*' || node.includes('$') || node.includes('{')) {
      setFields([]);
      return;
    }
    datasource.getResource<FieldDesc[]>('fields', { node }).then(setFields, () => setFields([]));
  }, [datasource, node]);

  const change = (patch: Partial<TelemeshQuery>, run = true) => {
    onChange({ ...query, ...patch });
    if (run) {
      onRunQuery();
    }
  };
  const nodeOptions = [EVERY, ...nodes.map((n) => ({ label: n, value: n })), ...vars];
  const fieldOptions = [
    EVERY,
    ...fields.map((f) => ({
      label: f.name,
      value: f.name,
      description: [f.type, f.units, f.description].filter(Boolean).join(' · '),
    })),
    ...vars,
  ];
  const chosen = selectedFields(query);

  return (
    <Stack direction="column" gap={0}>
      <Stack gap={0} wrap="wrap">
        <InlineField label="Node" labelWidth={10} tooltip="A node, * for every node that has the fields, or a variable (multi-value and All work)">
          <Select
            inputId="telemesh-node"
            width={24}
            options={nodeOptions}
            value={node || null}
            allowCustomValue
            placeholder="node or $var"
            onChange={(v) => change({ node: v?.value, field: undefined, fields: [] }, false)}
          />
        </InlineField>
        <InlineField label="Fields" labelWidth={10} tooltip="One or more fields, * for all of them, or a variable">
          <MultiSelect
            inputId="telemesh-fields"
            width={48}
            options={fieldOptions}
            value={chosen}
            allowCustomValue
            placeholder="fields"
            onChange={(vs) => change({ field: undefined, fields: vs.map((v) => v.value as string) })}
          />
        </InlineField>
        <InlineField label="Aggregation" labelWidth={14}>
          <Select
            inputId="telemesh-agg"
            width={16}
            options={AGGREGATIONS.map((a) => ({ label: a, value: a }))}
            value={query.agg || null}
            placeholder={`${datasource.defaultAgg} (default)`}
            isClearable
            onChange={(v) => change({ agg: v?.value })}
          />
        </InlineField>
      </Stack>
      <Stack gap={0} wrap="wrap">
        <InlineField label="Target" labelWidth={10} tooltip="Instead of node and fields: node::field, comma-separated">
          <Input
            id="telemesh-target"
            width={40}
            value={query.target ?? ''}
            placeholder="sim::co2,lab::t1"
            onChange={(e) => change({ target: e.currentTarget.value || undefined }, false)}
            onBlur={onRunQuery}
          />
        </InlineField>
        <InlineField label="Unit" labelWidth={10}>
          <RadioButtonGroup options={UNITS} value={query.unit ?? ''} onChange={(v) => change({ unit: v || undefined })} />
        </InlineField>
        <InlineField label="Live" labelWidth={8}>
          <InlineSwitch id="telemesh-live" value={!!query.live} onChange={(e) => change({ live: e.currentTarget.checked })} />
        </InlineField>
        <InlineField label="Type" labelWidth={8}>
          <RadioButtonGroup options={TYPES} value={query.queryType ?? ''} onChange={(v) => change({ queryType: v })} />
        </InlineField>
        {query.queryType === 'annotations' && (
          <InlineField label="Limit" labelWidth={8} tooltip={`Most annotations, the latest kept (default and cap ${EVENT_LIMIT}); a notice says when more were left out`}>
            <Input
              id="telemesh-limit"
              type="number"
              width={12}
              min={1}
              max={EVENT_LIMIT}
              value={query.limit ?? ''}
              placeholder={String(EVENT_LIMIT)}
              onChange={(e) => {
                const n = parseInt(e.currentTarget.value, 10);
                change({ limit: n > 0 ? Math.min(n, EVENT_LIMIT) : undefined }, false);
              }}
              onBlur={onRunQuery}
            />
          </InlineField>
        )}
      </Stack>
    </Stack>
  );
}
