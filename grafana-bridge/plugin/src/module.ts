import { DataSourcePlugin } from '@grafana/data';

import { ConfigEditor } from './components/ConfigEditor';
import { QueryEditor } from './components/QueryEditor';
import { DataSource } from './datasource';
import { TelemeshOptions, TelemeshQuery } from './types';

export const plugin = new DataSourcePlugin<DataSource, TelemeshQuery, TelemeshOptions>(DataSource)
  .setConfigEditor(ConfigEditor)
  .setQueryEditor(QueryEditor);
