package v1alpha1

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// CheckDurations returns an error naming the first Duration in obj's spec
// (by field path, such as spec.template.ttl) whose stored text did not
// parse, or nil. Such a value gets past admission only when it was stored
// before the schema checked it; the controller reports it on Ready rather
// than acting on a zero duration.
func CheckDurations(obj any) error {
	v := reflect.ValueOf(obj)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	spec := v.FieldByName("Spec")
	if !spec.IsValid() {
		return nil
	}
	return checkDurations(spec, "spec")
}

var durationType = reflect.TypeFor[Duration]()

// checkDurations walks v (structs, pointers, slices) for Durations.
func checkDurations(v reflect.Value, path string) error {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return checkDurations(v.Elem(), path)
	case reflect.Slice:
		for i := range v.Len() {
			if err := checkDurations(v.Index(i), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
	case reflect.Struct:
		if v.Type() == durationType {
			d := v.Interface().(Duration)
			if err := d.Err(); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
		for i := range v.NumField() {
			f := v.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			if err := checkDurations(v.Field(i), path+"."+name); err != nil {
				return err
			}
		}
	}
	return nil
}
