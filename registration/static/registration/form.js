// Application forms: show a field only when its condition holds (rules' shown_if), and offer only the
// institutions of the chosen city. The server applies the same rules; this only keeps the form tidy.
(function () {
  function valueOf(key) {
    var inputs = document.querySelectorAll('[name="' + key + '"]');
    var values = [];
    inputs.forEach(function (input) {
      if ((input.type === "checkbox" || input.type === "radio") && !input.checked) return;
      if (input.value) values.push(input.value);
    });
    return values;
  }
  function refresh() {
    document.querySelectorAll("[data-shown-if]").forEach(function (field) {
      var shown = valueOf(field.dataset.shownIf).indexOf(field.dataset.equals) !== -1;
      field.hidden = !shown;
      field.querySelectorAll("input,select,textarea").forEach(function (input) { input.disabled = !shown; });
    });
    document.querySelectorAll("select").forEach(function (select) {
      var cityOptions = select.querySelectorAll("option[data-city]");
      if (!cityOptions.length) return;
      var chosen = null;
      document.querySelectorAll("select").forEach(function (other) {
        if (other !== select && !other.querySelector("option[data-city]")) {
          other.querySelectorAll("option").forEach(function (option) {
            if (option.selected && option.value && select.querySelector('option[data-city="' + option.value + '"]')) chosen = option.value;
          });
        }
      });
      cityOptions.forEach(function (option) { option.hidden = chosen !== null && option.dataset.city !== chosen; });
    });
  }
  document.addEventListener("change", refresh);
  document.addEventListener("DOMContentLoaded", refresh);
  refresh();
})();
