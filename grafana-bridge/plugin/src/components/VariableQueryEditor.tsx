import React, { useState } from 'react';
import { InlineField, Input, Stack, Text } from '@grafana/ui';

import { VariableQuery } from '../types';

interface Props {
  query: VariableQuery;
  onChange: (query: VariableQuery, definition?: string) => void;
}

/** Variable editor: one query, with its syntax spelled out below it. */
export function VariableQueryEditor({ query, onChange }: Props) {
  const [text, setText] = useState(query?.query ?? '');
  const save = () => onChange({ ...query, refId: query?.refId ?? 'variable', query: text }, text);
  return (
    <Stack direction="column" gap={1}>
      <InlineField label="Query" labelWidth={12} grow>
        <Input
          id="telemesh-variable-query"
          value={text}
          placeholder="nodes()"
          onChange={(e) => setText(e.currentTarget.value)}
          onBlur={save}
        />
      </InlineField>
      <Text variant="bodySmall" color="secondary" element="p">
        <code>nodes()</code> lists the data nodes; <code>fields(sim)</code> the fields of node sim (also{' '}
        <code>fields($node)</code>); anything else filters <code>node::field</code> names, by substring or with{' '}
        <code>*</code> and <code>?</code> as a glob (<code>sim::temp*</code>). Multi-value and All variables work in
        queries.
      </Text>
    </Stack>
  );
}
