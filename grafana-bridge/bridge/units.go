package bridge

import (
	"strings"

	"github.com/telemesh/telemesh/protocol"
)

// grafanaUnits maps the units nodes declare to Grafana's unit ids, so that
// panels format and convert them (21.4 °C, not "21.4 degC").
var grafanaUnits = map[string]string{
	"degc": "celsius", "°c": "celsius", "celsius": "celsius",
	"degf": "fahrenheit", "°f": "fahrenheit", "fahrenheit": "fahrenheit",
	"k": "kelvin", "kelvin": "kelvin",
	"%": "percent", "percent": "percent", "%rh": "humidity", "rh": "humidity",
	"ppm": "ppm", "ppb": "conppb",
	"pa": "pressurepa", "hpa": "pressurehpa", "kpa": "pressurekpa", "mbar": "pressurembar", "bar": "pressurebar", "psi": "pressurepsi",
	"v": "volt", "mv": "mvolt", "kv": "kvolt", "a": "amp", "ma": "mamp", "w": "watt", "kw": "kwatt", "mw": "mwatt",
	"wh": "watth", "kwh": "kwatth", "va": "voltamp", "hz": "hertz", "khz": "khertz", "mhz": "mhertz",
	"ohm": "ohm", "Ω": "ohm",
	"s": "s", "ms": "ms", "us": "µs", "µs": "µs", "ns": "ns", "min": "m", "h": "h",
	"m": "lengthm", "mm": "lengthmm", "km": "lengthkm", "m/s": "velocityms", "km/h": "velocitykmh",
	"lx": "lux", "lux": "lux", "db": "dB", "dbm": "dBm", "rpm": "rotrpm",
	"b": "bytes", "byte": "bytes", "bytes": "bytes", "kb": "kbytes", "mb": "mbytes", "gb": "gbytes",
	"b/s": "Bps", "bit/s": "bps", "l": "litre", "ml": "mlitre", "m3": "m3", "l/min": "flowlpm",
	"kg": "masskg", "g": "massg", "deg": "degree", "°": "degree", "rad": "radian",
	"µg/m3": "conμgm3", "ug/m3": "conμgm3", "mg/m3": "conmgm3",
}

// GrafanaUnit is the Grafana unit id of a field's declared units: a known
// id, or a "suffix:" unit for units Grafana does not know; "" for none.
func GrafanaUnit(info protocol.FieldInfo) string {
	if info.Units == nil || strings.TrimSpace(*info.Units) == "" {
		return ""
	}
	u := strings.TrimSpace(*info.Units)
	if id, ok := grafanaUnits[strings.ToLower(u)]; ok {
		return id
	}
	if id, ok := grafanaUnits[u]; ok {
		return id
	}
	return "suffix: " + u
}
