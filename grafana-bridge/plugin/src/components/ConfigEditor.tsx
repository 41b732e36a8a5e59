import React, { ChangeEvent } from 'react';
import { DataSourcePluginOptionsEditorProps } from '@grafana/data';
import { InlineField, InlineSwitch, Input, SecretInput, SecretTextArea, Select, Stack } from '@grafana/ui';

import { AGGREGATIONS, SERIALIZERS, TelemeshOptions, TelemeshSecureOptions } from '../types';

type Props = DataSourcePluginOptionsEditorProps<TelemeshOptions, TelemeshSecureOptions>;
type SecretKey = keyof TelemeshSecureOptions;

const LW = 22;

/** Config editor: every setting the backend reads; secrets in secureJsonData. */
export function ConfigEditor({ options, onOptionsChange }: Props) {
  const json = options.jsonData ?? {};
  const secure = options.secureJsonFields ?? {};
  const set = (patch: Partial<TelemeshOptions>) => onOptionsChange({ ...options, jsonData: { ...json, ...patch } });
  const text = (label: string, key: keyof TelemeshOptions, placeholder: string, tooltip?: string) => (
    <InlineField label={label} labelWidth={LW} tooltip={tooltip}>
      <Input
        id={`telemesh-${key}`}
        width={40}
        value={(json[key] as string) ?? ''}
        placeholder={placeholder}
        onChange={(e: ChangeEvent<HTMLInputElement>) => set({ [key]: e.currentTarget.value || undefined })}
      />
    </InlineField>
  );
  const choice = (label: string, key: 'serializer' | 'defaultAgg', values: string[], placeholder: string, tooltip?: string) => (
    <InlineField label={label} labelWidth={LW} tooltip={tooltip}>
      <Select
        inputId={`telemesh-${key}`}
        width={20}
        options={values.map((v) => ({ label: v, value: v }))}
        value={json[key] || null}
        placeholder={placeholder}
        isClearable
        onChange={(v) => set({ [key]: v?.value })}
      />
    </InlineField>
  );
  const setSecret = (key: SecretKey, value: string) =>
    onOptionsChange({ ...options, secureJsonData: { ...options.secureJsonData, [key]: value } });
  const resetSecret = (key: SecretKey) =>
    onOptionsChange({
      ...options,
      secureJsonFields: { ...secure, [key]: false },
      secureJsonData: { ...options.secureJsonData, [key]: '' },
    });
  const pem = (label: string, key: SecretKey, placeholder: string) => (
    <InlineField label={label} labelWidth={LW}>
      <SecretTextArea
        id={`telemesh-${key}`}
        cols={60}
        rows={4}
        isConfigured={!!secure[key]}
        placeholder={placeholder}
        onReset={() => resetSecret(key)}
        onChange={(e) => setSecret(key, e.currentTarget.value)}
      />
    </InlineField>
  );
  const toggle = (label: string, key: 'tlsSkipVerify' | 'tlsAuth' | 'tlsAuthWithCACert', tooltip: string) => (
    <InlineField label={label} labelWidth={LW} tooltip={tooltip}>
      <InlineSwitch id={`telemesh-${key}`} value={!!json[key]} onChange={(e) => set({ [key]: e.currentTarget.checked })} />
    </InlineField>
  );

  return (
    <Stack direction="column" gap={0}>
      {text('Router URL', 'url', 'ws://127.0.0.1:8080/ws', 'ws://, wss://, tcp:// or tcps://')}
      {text('Profile', 'profile', 'telemesh', 'telemesh or sisock')}
      {text('Realm', 'realm', "(the profile's)")}
      {text('Base URI', 'baseUri', "(the profile's)")}
      {choice('Serializer', 'serializer', SERIALIZERS, 'msgpack')}
      {choice('Default aggregation', 'defaultAgg', AGGREGATIONS, 'mean', 'For queries that name none')}
      <InlineField label="Node timeout (s)" labelWidth={LW}>
        <Input
          id="telemesh-nodeTimeout"
          width={12}
          type="number"
          value={json.nodeTimeout ?? ''}
          placeholder="10"
          onChange={(e: ChangeEvent<HTMLInputElement>) => set({ nodeTimeout: parseFloat(e.currentTarget.value) || undefined })}
        />
      </InlineField>
      {text('Auth ID', 'authid', 'anonymous when empty')}
      {text('Auth method', 'authmethod', 'wampcra', 'anonymous, ticket, wampcra or cryptosign')}
      <InlineField label="Secret" labelWidth={LW} tooltip="Ticket, WAMP-CRA secret or cryptosign key (hex)">
        <SecretInput
          id="telemesh-secret"
          width={40}
          isConfigured={!!secure.secret}
          value={options.secureJsonData?.secret ?? ''}
          onReset={() => resetSecret('secret')}
          onChange={(e: ChangeEvent<HTMLInputElement>) => setSecret('secret', e.currentTarget.value)}
        />
      </InlineField>
      {text('CA file', 'caFile', '/etc/grafana/telemesh-ca.crt', 'PEM CA bundle on the Grafana host for wss:// and tcps://')}
      {text('Server name', 'serverName', '(from the URL)', "Host name checked in the router's certificate")}
      {toggle('With CA certificate', 'tlsAuthWithCACert', 'Trust the CA certificate below (PEM), not a file')}
      {json.tlsAuthWithCACert && pem('CA certificate', 'tlsCACert', '-----BEGIN CERTIFICATE-----')}
      {toggle('TLS client auth', 'tlsAuth', 'Present the client certificate below to the router')}
      {json.tlsAuth && pem('Client certificate', 'tlsClientCert', '-----BEGIN CERTIFICATE-----')}
      {json.tlsAuth && pem('Client key', 'tlsClientKey', '-----BEGIN PRIVATE KEY-----')}
      {toggle('Skip TLS verify', 'tlsSkipVerify', "Accept any router certificate (tests only)")}
    </Stack>
  );
}
