"""The monitoring stack a platform team already runs: Prometheus as a source, Alertmanager as the pager, and
goodput's KPIs served to Prometheus and Grafana (an exporter, recording and alerting rules, a dashboard)."""
