import React from 'react';
import { fireEvent, render, screen, waitFor } from '@testing-library/react';

import { templateSrv } from '../testing';
import { TelemeshQuery } from '../types';
import { ConfigEditor } from './ConfigEditor';
import { QueryEditor, selectedFields } from './QueryEditor';
import { VariableQueryEditor } from './VariableQueryEditor';

jest.mock('@grafana/runtime', () => ({
  getTemplateSrv: () => templateSrv({ node: ['sim', 'lab'] }),
}));

function fakeDatasource() {
  return {
    defaultAgg: 'max',
    getResource: jest.fn((path: string) =>
      Promise.resolve(
        path === 'nodes'
          ? ['lab', 'sim']
          : [
              { name: 'co2', type: 'number', units: 'ppm', timeline: 'env' },
              { name: 'humidity', type: 'number', units: '%', timeline: 'env' },
            ]
      )
    ),
  };
}

describe('QueryEditor', () => {
  it('offers nodes and fields, shows the default aggregation and sets the live flag', async () => {
    const ds = fakeDatasource();
    const onChange = jest.fn();
    const onRunQuery = jest.fn();
    const query: TelemeshQuery = { refId: 'A', node: 'sim', fields: ['co2'] };
    render(<QueryEditor datasource={ds as any} query={query} onChange={onChange} onRunQuery={onRunQuery} />);
    await waitFor(() => expect(ds.getResource).toHaveBeenCalledWith('fields', { node: 'sim' }));
    expect(ds.getResource).toHaveBeenCalledWith('nodes');
    for (const label of ['Node', 'Fields', 'Aggregation', 'Target', 'Unit', 'Live', 'Type']) {
      expect(screen.getByText(label)).toBeInTheDocument();
    }
    expect(screen.getByText('co2')).toBeInTheDocument();
    expect(screen.getByText('max (default)')).toBeInTheDocument();
    fireEvent.click(screen.getByLabelText('Live', { selector: 'input' }));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, live: true });
    expect(onRunQuery).toHaveBeenCalled();
    fireEvent.click(screen.getByText("Panel's"));
    expect(onChange).toHaveBeenLastCalledWith({ ...query, unit: 'panel' });
  });

  it('does not ask for fields of a variable or of every node', async () => {
    const ds = fakeDatasource();
    render(<QueryEditor datasource={ds as any} query={{ refId: 'A', node: '$node', fields: ['*'] }} onChange={jest.fn()} onRunQuery={jest.fn()} />);
    await waitFor(() => expect(ds.getResource).toHaveBeenCalledWith('nodes'));
    expect(ds.getResource).not.toHaveBeenCalledWith('fields', expect.anything());
  });

  it('shows the limit of an annotation query only, capped', async () => {
    const ds = fakeDatasource();
    const onChange = jest.fn();
    const { rerender } = render(
      <QueryEditor datasource={ds as any} query={{ refId: 'A', node: 'sim', field: 'co2' }} onChange={onChange} onRunQuery={jest.fn()} />
    );
    await waitFor(() => expect(ds.getResource).toHaveBeenCalledWith('fields', { node: 'sim' }));
    expect(screen.queryByText('Limit')).not.toBeInTheDocument();
    const query: TelemeshQuery = { refId: 'A', node: 'sim', field: 'co2', queryType: 'annotations' };
    rerender(<QueryEditor datasource={ds as any} query={query} onChange={onChange} onRunQuery={jest.fn()} />);
    expect(screen.getByText('Limit')).toBeInTheDocument();
    const input = screen.getByPlaceholderText('1000');
    fireEvent.change(input, { target: { value: '50' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, limit: 50 });
    fireEvent.change(input, { target: { value: '5000' } });
    expect(onChange).toHaveBeenLastCalledWith({ ...query, limit: 1000 });
  });

  it('reads field and fields as one list', () => {
    expect(selectedFields({ refId: 'A', field: 'co2', fields: ['t'] })).toEqual(['co2', 't']);
    expect(selectedFields({ refId: 'A' })).toEqual([]);
  });
});

describe('ConfigEditor', () => {
  const options = (jsonData = {}, secureJsonFields = {}) =>
    ({ jsonData, secureJsonFields, secureJsonData: {} }) as any;

  it('has every setting', () => {
    render(<ConfigEditor options={options({ tlsAuth: true, tlsAuthWithCACert: true })} onOptionsChange={jest.fn()} />);
    for (const label of [
      'Router URL', 'Profile', 'Realm', 'Base URI', 'Serializer', 'Default aggregation', 'Node timeout (s)', 'Auth ID',
      'Auth method', 'Secret', 'CA file', 'Server name', 'With CA certificate', 'CA certificate', 'TLS client auth',
      'Client certificate', 'Client key', 'Skip TLS verify',
    ]) {
      expect(screen.getByText(label)).toBeInTheDocument();
    }
  });

  it('keeps settings in jsonData and secrets in secureJsonData', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={options()} onOptionsChange={onOptionsChange} />);
    fireEvent.change(document.getElementById('telemesh-url')!, { target: { value: 'wss://r/ws' } });
    expect(onOptionsChange.mock.calls[0][0].jsonData).toEqual({ url: 'wss://r/ws' });
    fireEvent.change(document.getElementById('telemesh-secret')!, { target: { value: 'pw' } });
    const last = onOptionsChange.mock.calls[1][0];
    expect(last.secureJsonData).toEqual({ secret: 'pw' });
    expect(last.jsonData.secret).toBeUndefined();
    fireEvent.click(document.getElementById('telemesh-tlsSkipVerify')!);
    expect(onOptionsChange.mock.calls[2][0].jsonData).toEqual({ tlsSkipVerify: true });
  });

  it('hides the client certificate until TLS client auth is on, and resets a stored secret', () => {
    const onOptionsChange = jest.fn();
    render(<ConfigEditor options={options({}, { secret: true })} onOptionsChange={onOptionsChange} />);
    expect(screen.queryByText('Client key')).not.toBeInTheDocument();
    fireEvent.click(screen.getByText('Reset'));
    expect(onOptionsChange.mock.calls[0][0].secureJsonFields).toEqual({ secret: false });
  });
});

describe('VariableQueryEditor', () => {
  it('explains the syntax and saves the query', () => {
    const onChange = jest.fn();
    render(<VariableQueryEditor query={{ refId: 'v', query: '' }} onChange={onChange} />);
    expect(screen.getByText('nodes()')).toBeInTheDocument();
    expect(screen.getByText('fields(sim)')).toBeInTheDocument();
    const input = document.getElementById('telemesh-variable-query')!;
    fireEvent.change(input, { target: { value: 'fields($node)' } });
    fireEvent.blur(input);
    expect(onChange).toHaveBeenCalledWith({ refId: 'v', query: 'fields($node)' }, 'fields($node)');
  });
});
