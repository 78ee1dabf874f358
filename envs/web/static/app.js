// The one script of envgym's mock apps.  Pages carry no inline script or event-handler attributes
// (their Content-Security-Policy forbids both); elements ask for behaviour with data- attributes,
// whose values this file only ever reads as text:
//   <form data-confirm="Delete it?">        ask before submitting
//   <button data-open-dialog="ID">           open the <dialog id="ID"> as a modal
//   <button data-close-dialog>               close the dialog the button is in
//   <select data-autosubmit>                 submit the form when the choice changes
//   <button data-fill='{"ID": "value"}'>     set the value of each input ID
"use strict";

document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.hasAttribute("data-confirm") && !window.confirm(form.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});

document.addEventListener("click", function (event) {
  var target = event.target instanceof Element ? event.target : null;
  var opener = target && target.closest("[data-open-dialog]");
  if (opener) {
    document.getElementById(opener.getAttribute("data-open-dialog")).showModal();
  }
  var closer = target && target.closest("[data-close-dialog]");
  if (closer) {
    closer.closest("dialog").close();
  }
  var filler = target && target.closest("[data-fill]");
  if (filler) {
    var values = JSON.parse(filler.getAttribute("data-fill"));
    Object.keys(values).forEach(function (id) {
      document.getElementById(id).value = values[id];
    });
  }
});

document.addEventListener("change", function (event) {
  var target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-autosubmit") && target.form) {
    target.form.submit();
  }
});
