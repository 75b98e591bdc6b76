/*
 * Stripe.js stand-in, served by the local Stripe at /js/stripe.js.
 *
 * Load it with a plain <script> in <head> (before @stripe/stripe-js runs):
 * it defines `window.Stripe`, which @stripe/stripe-js then uses instead of
 * injecting js.stripe.com. The real @stripe/react-stripe-js components render
 * against it. Elements are a labelled card form (Card number, Expiry, CVC) in
 * the page, not iframes; payments are confirmed against the local API with
 * the publishable key and the intent's client secret; 4000 0025 0000 3155
 * opens a "3D Secure authentication" dialog with Complete / Fail buttons.
 */
(function () {
  'use strict';

  var API_BASE = '__LOCAL_STRIPE_API_BASE__';
  if (/^__/.test(API_BASE)) {
    // Served without substitution: use the origin the script came from.
    try {
      API_BASE = new URL(document.currentScript.src).origin;
    } catch (e) {
      API_BASE = 'http://127.0.0.1:12111';
    }
  }
  if (typeof window.__LOCAL_STRIPE_API_BASE__ === 'string') API_BASE = window.__LOCAL_STRIPE_API_BASE__;

  var uid = 0;
  function nextId() {
    uid += 1;
    return 'ls' + uid;
  }

  // ---------------------------------------------------------------- API calls

  function encodeForm(data, prefix, out) {
    out = out || [];
    Object.keys(data).forEach(function (k) {
      var v = data[k];
      var key = prefix ? prefix + '[' + k + ']' : k;
      if (v === undefined || v === null) return;
      if (typeof v === 'object') encodeForm(v, key, out);
      else out.push(encodeURIComponent(key) + '=' + encodeURIComponent(String(v)));
    });
    return out.join('&');
  }

  function api(key, method, path, params) {
    var body = params ? encodeForm(params) : '';
    var url = API_BASE + path + (method === 'GET' && body ? '?' + body : '');
    return fetch(url, {
      method: method,
      headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: method === 'GET' ? undefined : body,
    })
      .then(function (res) {
        return res.json().then(function (json) {
          return res.ok ? { data: json } : { error: json.error || { type: 'api_error', message: 'Request failed' } };
        });
      })
      .catch(function (err) {
        return { error: { type: 'api_connection_error', message: 'Could not reach the local Stripe: ' + err.message } };
      });
  }

  function intentIdOf(clientSecret) {
    return String(clientSecret).split('_secret_')[0];
  }

  function integrationError(message) {
    var e = new Error(message);
    e.name = 'IntegrationError';
    return e;
  }

  // ------------------------------------------------------------- validation

  function digits(s) {
    return String(s || '').replace(/\D/g, '');
  }

  function luhn(number) {
    var sum = 0;
    for (var i = 0; i < number.length; i++) {
      var d = Number(number[number.length - 1 - i]);
      if (i % 2 === 1) {
        d *= 2;
        if (d > 9) d -= 9;
      }
      sum += d;
    }
    return sum % 10 === 0;
  }

  function brandOf(number) {
    if (/^4/.test(number)) return 'visa';
    if (/^(5[1-5]|2[2-7])/.test(number)) return 'mastercard';
    if (/^3[47]/.test(number)) return 'amex';
    return 'unknown';
  }

  function parseExpiry(value) {
    var d = digits(value);
    if (d.length < 4) return null;
    return { month: Number(d.slice(0, 2)), year: 2000 + Number(d.slice(2, 4)) };
  }

  function validationError(code, message) {
    return { type: 'validation_error', code: code, message: message };
  }

  /** First problem with the card fields, or null when complete. */
  function cardProblem(state) {
    var number = digits(state.number);
    if (number.length === 0) return validationError('incomplete_number', 'Your card number is incomplete.');
    if (number.length < 16 && !(brandOf(number) === 'amex' && number.length === 15)) {
      return validationError('incomplete_number', 'Your card number is incomplete.');
    }
    if (!luhn(number)) return validationError('invalid_number', 'Your card number is invalid.');
    var exp = parseExpiry(state.expiry);
    if (!exp) return validationError('incomplete_expiry', "Your card's expiration date is incomplete.");
    if (exp.month < 1 || exp.month > 12) return validationError('invalid_expiry_month', "Your card's expiration date is invalid.");
    var now = new Date();
    if (exp.year < now.getFullYear() || (exp.year === now.getFullYear() && exp.month < now.getMonth() + 1)) {
      return validationError('invalid_expiry_year_past', "Your card's expiration year is in the past.");
    }
    if (digits(state.cvc).length < 3) return validationError('incomplete_cvc', "Your card's security code is incomplete.");
    return null;
  }

  // ---------------------------------------------------------------- Element

  var STYLE =
    '.ls-element{font:14px system-ui,sans-serif;display:grid;gap:8px}' +
    '.ls-element label{display:block;font-size:13px;margin-bottom:2px;color:#30313d}' +
    '.ls-element input{box-sizing:border-box;width:100%;padding:8px;border:1px solid #c7c9d1;border-radius:4px;font:inherit}' +
    '.ls-element .ls-row{display:grid;grid-template-columns:1fr 1fr;gap:8px}' +
    '.ls-element .ls-error{color:#df1b41;font-size:13px;min-height:1em}' +
    '.ls-element .ls-note{color:#6d6e78;font-size:12px}' +
    '.ls-overlay{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:center;justify-content:center;z-index:2147483647}' +
    '.ls-dialog{background:#fff;border-radius:8px;padding:24px;max-width:360px;font:14px system-ui,sans-serif}' +
    '.ls-dialog button{margin-right:8px;padding:8px 16px;font:inherit}';

  function injectStyle() {
    if (document.getElementById('local-stripe-style')) return;
    var style = document.createElement('style');
    style.id = 'local-stripe-style';
    style.textContent = STYLE;
    document.head.appendChild(style);
  }

  function field(id, label, attrs) {
    var wrap = document.createElement('div');
    var l = document.createElement('label');
    l.htmlFor = id;
    l.textContent = label;
    var input = document.createElement('input');
    input.id = id;
    Object.keys(attrs).forEach(function (k) {
      input.setAttribute(k, attrs[k]);
    });
    wrap.appendChild(l);
    wrap.appendChild(input);
    return { wrap: wrap, input: input };
  }

  function formatNumber(value) {
    return digits(value)
      .slice(0, 19)
      .replace(/(\d{4})(?=\d)/g, '$1 ');
  }

  function formatExpiry(value) {
    var d = digits(value).slice(0, 4);
    return d.length > 2 ? d.slice(0, 2) + ' / ' + d.slice(2) : d;
  }

  function Element(group, type, options) {
    this._group = group;
    this._type = type;
    this._options = options || {};
    this._listeners = {};
    this._state = { number: '', expiry: '', cvc: '' };
    this._node = null;
    this._ready = false;
    this._destroyed = false;
  }

  Element.prototype._emit = function (event, payload) {
    (this._listeners[event] || []).slice().forEach(function (h) {
      h(payload);
    });
  };

  Element.prototype.on = function (event, handler) {
    (this._listeners[event] = this._listeners[event] || []).push(handler);
    // A 'ready' listener added after the element became ready still hears it.
    if (event === 'ready' && this._ready) {
      var self = this;
      setTimeout(function () {
        handler({ elementType: self._type });
      }, 0);
    }
    return this;
  };

  Element.prototype.addEventListener = Element.prototype.on;

  Element.prototype.off = function (event, handler) {
    if (!this._listeners[event]) return this;
    this._listeners[event] = handler
      ? this._listeners[event].filter(function (h) {
          return h !== handler;
        })
      : [];
    return this;
  };

  Element.prototype.removeEventListener = Element.prototype.off;

  Element.prototype.once = function (event, handler) {
    var self = this;
    function wrapper(payload) {
      self.off(event, wrapper);
      handler(payload);
    }
    return this.on(event, wrapper);
  };

  Element.prototype._changePayload = function () {
    var problem = cardProblem(this._state);
    var empty = !this._state.number && !this._state.expiry && !this._state.cvc;
    var payload = { elementType: this._type, empty: empty, complete: !problem };
    if (this._type === 'payment') {
      payload.collapsed = false;
      payload.value = { type: 'card' };
    } else {
      payload.brand = brandOf(digits(this._state.number));
      payload.value = { postalCode: '' };
    }
    // Like Stripe, only report an error once the field content is definitely wrong.
    if (problem && problem.code.indexOf('incomplete') !== 0) payload.error = problem;
    return payload;
  };

  Element.prototype._showError = function (error) {
    if (this._errorNode) this._errorNode.textContent = error ? error.message : '';
  };

  Element.prototype.mount = function (target) {
    var node = typeof target === 'string' ? document.querySelector(target) : target;
    if (!node) throw integrationError('The selector you specified (' + target + ') applies to no DOM elements.');
    if (this._destroyed) throw integrationError('This Element has already been destroyed. Please create a new one.');
    injectStyle();
    var self = this;
    var id = nextId();
    var root = document.createElement('div');
    root.className = 'ls-element';
    root.setAttribute('data-local-stripe-element', this._type);
    var number = field(id + '-number', 'Card number', {
      name: 'cardnumber',
      autocomplete: 'cc-number',
      inputmode: 'numeric',
      placeholder: '1234 1234 1234 1234',
    });
    var row = document.createElement('div');
    row.className = 'ls-row';
    var expiry = field(id + '-expiry', 'Expiry', { name: 'exp-date', autocomplete: 'cc-exp', inputmode: 'numeric', placeholder: 'MM / YY' });
    var cvc = field(id + '-cvc', 'CVC', { name: 'cvc', autocomplete: 'cc-csc', inputmode: 'numeric', placeholder: 'CVC' });
    row.appendChild(expiry.wrap);
    row.appendChild(cvc.wrap);
    var error = document.createElement('div');
    error.className = 'ls-error';
    error.setAttribute('role', 'alert');
    var note = document.createElement('div');
    note.className = 'ls-note';
    note.textContent = 'Local Stripe test card form. Try 4242 4242 4242 4242, any future date, any CVC.';
    root.appendChild(number.wrap);
    root.appendChild(row);
    root.appendChild(error);
    root.appendChild(note);
    this._errorNode = error;
    this._inputs = { number: number.input, expiry: expiry.input, cvc: cvc.input };

    function bind(name, format) {
      var input = self._inputs[name];
      input.value = format(self._state[name]);
      input.addEventListener('input', function () {
        input.value = format(input.value);
        self._state[name] = input.value;
        var payload = self._changePayload();
        self._showError(payload.error);
        self._emit('change', payload);
      });
      input.addEventListener('focus', function () {
        self._emit('focus', { elementType: self._type });
      });
      input.addEventListener('blur', function () {
        self._emit('blur', { elementType: self._type });
      });
    }
    bind('number', formatNumber);
    bind('expiry', formatExpiry);
    bind('cvc', function (v) {
      return digits(v).slice(0, 4);
    });
    this._applyOptions();
    node.appendChild(root);
    this._node = root;
    setTimeout(function () {
      if (self._node !== root) return;
      self._ready = true;
      self._emit('ready', { elementType: self._type });
    }, 0);
  };

  Element.prototype._applyOptions = function () {
    if (!this._inputs) return;
    var disabled = !!this._options.disabled;
    var inputs = this._inputs;
    Object.keys(inputs).forEach(function (k) {
      inputs[k].disabled = disabled;
    });
  };

  Element.prototype.update = function (options) {
    Object.assign(this._options, options || {});
    this._applyOptions();
  };

  Element.prototype.unmount = function () {
    if (this._node && this._node.parentNode) this._node.parentNode.removeChild(this._node);
    this._node = null;
    this._ready = false;
  };

  Element.prototype.destroy = function () {
    this.unmount();
    this._destroyed = true;
    this._listeners = {};
    this._group._remove(this);
  };

  Element.prototype.focus = function () {
    if (this._inputs) this._inputs.number.focus();
  };

  Element.prototype.blur = function () {
    if (this._inputs && document.activeElement && document.activeElement.blur) document.activeElement.blur();
  };

  Element.prototype.clear = function () {
    this._state = { number: '', expiry: '', cvc: '' };
    if (this._inputs) {
      this._inputs.number.value = '';
      this._inputs.expiry.value = '';
      this._inputs.cvc.value = '';
    }
  };

  Element.prototype.collapse = function () {};

  /** Validates and shows the first problem; returns it (or null). */
  Element.prototype._validate = function () {
    var problem = cardProblem(this._state);
    this._showError(problem);
    return problem;
  };

  Element.prototype._card = function () {
    var exp = parseExpiry(this._state.expiry) || { month: 0, year: 0 };
    return { number: digits(this._state.number), exp_month: exp.month, exp_year: exp.year, cvc: digits(this._state.cvc) };
  };

  // --------------------------------------------------------------- Elements

  function Elements(stripe, options) {
    this._stripe = stripe;
    this._options = Object.assign({}, options || {});
    this._elements = [];
    this._submitted = false;
  }

  Elements.prototype.create = function (type, options) {
    var existing = this.getElement(type);
    if (existing) throw integrationError('Can only create one Element of type ' + type + '.');
    var element = new Element(this, type, options);
    this._elements.push(element);
    return element;
  };

  Elements.prototype.getElement = function (type) {
    for (var i = 0; i < this._elements.length; i++) if (this._elements[i]._type === type) return this._elements[i];
    return null;
  };

  Elements.prototype._remove = function (element) {
    this._elements = this._elements.filter(function (e) {
      return e !== element;
    });
  };

  Elements.prototype._cardElement = function () {
    return this.getElement('payment') || this.getElement('card');
  };

  Elements.prototype.update = function (options) {
    Object.assign(this._options, options || {});
  };

  Elements.prototype.fetchUpdates = function () {
    return Promise.resolve({});
  };

  Elements.prototype.on = function () {
    return this;
  };

  Elements.prototype.off = function () {
    return this;
  };

  /** Validates the form (required before confirmPayment in the deferred-intent flow). */
  Elements.prototype.submit = function () {
    var element = this._cardElement();
    if (!element) return Promise.resolve({ error: validationError('incomplete', 'No payment Element is mounted.') });
    var problem = element._validate();
    if (problem) return Promise.resolve({ error: problem });
    this._submitted = true;
    return Promise.resolve({ selectedPaymentMethod: 'card' });
  };

  // -------------------------------------------------------------- 3D Secure

  /** The issuer's challenge: resolves 'succeed' (Complete) or 'fail' (Fail). */
  function challenge(pi) {
    injectStyle();
    return new Promise(function (resolve) {
      var overlay = document.createElement('div');
      overlay.className = 'ls-overlay';
      var dialog = document.createElement('div');
      dialog.className = 'ls-dialog';
      dialog.setAttribute('role', 'dialog');
      dialog.setAttribute('aria-modal', 'true');
      dialog.setAttribute('aria-labelledby', 'ls-3ds-title');
      var title = document.createElement('h2');
      title.id = 'ls-3ds-title';
      title.textContent = '3D Secure authentication';
      var text = document.createElement('p');
      text.textContent =
        'Local Stripe test challenge for ' + (pi.amount / 100).toFixed(2) + ' ' + String(pi.currency).toUpperCase() + '.';
      dialog.appendChild(title);
      dialog.appendChild(text);
      [
        ['Complete', 'succeed'],
        ['Fail', 'fail'],
      ].forEach(function (b) {
        var button = document.createElement('button');
        button.type = 'button';
        button.textContent = b[0];
        button.addEventListener('click', function () {
          overlay.parentNode.removeChild(overlay);
          resolve(b[1]);
        });
        dialog.appendChild(button);
      });
      overlay.appendChild(dialog);
      document.body.appendChild(overlay);
    });
  }

  // ----------------------------------------------------------------- Stripe

  function LocalStripeInstance(key, options) {
    this._key = key;
    this._options = options || {};
  }

  var proto = LocalStripeInstance.prototype;

  proto.elements = function (options) {
    return new Elements(this, options);
  };

  proto._createCardPaymentMethod = function (element, billingDetails) {
    return api(this._key, 'POST', '/v1/payment_methods', {
      type: 'card',
      card: element._card(),
      billing_details: billingDetails || undefined,
    });
  };

  proto.createPaymentMethod = function (a, b) {
    var element;
    var billing;
    if (a && a.elements) {
      element = a.elements._cardElement();
      billing = a.params && a.params.billing_details;
    } else if (a && a.card) {
      element = a.card;
      billing = a.billing_details;
    } else if (typeof a === 'string' && b) {
      element = b;
    }
    if (!element) return Promise.reject(integrationError('createPaymentMethod needs a card Element.'));
    var problem = element._validate();
    if (problem) return Promise.resolve({ error: problem });
    return this._createCardPaymentMethod(element, billing).then(function (r) {
      return r.error ? { error: r.error } : { paymentMethod: r.data };
    });
  };

  proto.createToken = function (element) {
    if (!element || !element._validate) return Promise.reject(integrationError('createToken needs a card Element.'));
    var problem = element._validate();
    if (problem) return Promise.resolve({ error: problem });
    var card = element._card();
    return Promise.resolve({
      token: {
        id: 'tok_local_' + Date.now().toString(36),
        object: 'token',
        type: 'card',
        used: false,
        livemode: false,
        created: Math.floor(Date.now() / 1000),
        card: { brand: brandOf(card.number), last4: card.number.slice(-4), exp_month: card.exp_month, exp_year: card.exp_year },
      },
    });
  };

  proto.retrievePaymentIntent = function (clientSecret) {
    return api(this._key, 'GET', '/v1/payment_intents/' + intentIdOf(clientSecret), { client_secret: clientSecret }).then(function (r) {
      return r.error ? { error: r.error } : { paymentIntent: r.data };
    });
  };

  /** Completes 3-D Secure for an intent in requires_action: shows the challenge, reports the outcome. */
  proto._handleActions = function (pi, clientSecret) {
    var key = this._key;
    if (pi.status !== 'requires_action') return Promise.resolve(pi);
    return challenge(pi).then(function (outcome) {
      return fetch(API_BASE + '/_local/3ds/' + pi.id + '/complete', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
        body: JSON.stringify({ client_secret: clientSecret, outcome: outcome }),
      }).then(function (res) {
        return res.json();
      });
    });
  };

  /** Confirms with the local API and runs next actions; resolves { paymentIntent } or { error }. */
  proto._confirm = function (clientSecret, params, handleActions) {
    var self = this;
    var body = Object.assign({ client_secret: clientSecret, use_stripe_sdk: 'true' }, params);
    return api(this._key, 'POST', '/v1/payment_intents/' + intentIdOf(clientSecret) + '/confirm', body).then(function (r) {
      if (r.error) return { error: r.error };
      if (handleActions === false) return { paymentIntent: r.data };
      return self._handleActions(r.data, clientSecret).then(function (pi) {
        if (pi.error) return { error: pi.error };
        if (pi.status === 'requires_payment_method' && pi.last_payment_error) {
          return { error: Object.assign({}, pi.last_payment_error, { payment_intent: pi }) };
        }
        return { paymentIntent: pi };
      });
    });
  };

  proto.confirmPayment = function (args) {
    args = args || {};
    var elements = args.elements;
    var confirmParams = args.confirmParams || {};
    var redirect = args.redirect || 'always';
    var clientSecret = args.clientSecret || (elements && elements._options.clientSecret);
    if (!elements) return Promise.reject(integrationError('confirmPayment: `elements` is required.'));
    if (!clientSecret) return Promise.reject(integrationError('confirmPayment: a `clientSecret` is required.'));
    if (!elements._options.clientSecret && !elements._submitted) {
      return Promise.reject(
        integrationError('elements.submit() must be called before stripe.confirmPayment(). Call elements.submit() as soon as your customer presses pay.'),
      );
    }
    if (redirect === 'always' && !confirmParams.return_url) {
      return Promise.reject(integrationError('confirmPayment: `confirmParams.return_url` is required unless redirect is "if_required".'));
    }
    var element = elements._cardElement();
    if (!element) return Promise.reject(integrationError('confirmPayment: no payment Element is mounted.'));
    var problem = element._validate();
    if (problem) return Promise.resolve({ error: problem });
    var self = this;
    var billing = confirmParams.payment_method_data && confirmParams.payment_method_data.billing_details;
    return this._createCardPaymentMethod(element, billing).then(function (pm) {
      if (pm.error) return { error: pm.error };
      var params = { payment_method: pm.data.id, return_url: confirmParams.return_url, receipt_email: confirmParams.receipt_email };
      return self._confirm(clientSecret, params, true).then(function (result) {
        if (result.error || redirect === 'if_required') return result;
        var url = new URL(confirmParams.return_url, window.location.href);
        url.searchParams.set('payment_intent', result.paymentIntent.id);
        url.searchParams.set('payment_intent_client_secret', clientSecret);
        url.searchParams.set('redirect_status', result.paymentIntent.status === 'succeeded' ? 'succeeded' : 'processing');
        window.location.assign(url.toString());
        // Stripe.js navigates away and never settles this promise.
        return new Promise(function () {});
      });
    });
  };

  proto.confirmCardPayment = function (clientSecret, data, options) {
    data = data || {};
    var self = this;
    var handleActions = !(options && options.handleActions === false);
    var pm = data.payment_method;
    if (pm && typeof pm === 'object' && pm.card) {
      var problem = pm.card._validate();
      if (problem) return Promise.resolve({ error: problem });
      return this._createCardPaymentMethod(pm.card, pm.billing_details).then(function (r) {
        if (r.error) return { error: r.error };
        return self._confirm(clientSecret, { payment_method: r.data.id, return_url: data.return_url }, handleActions);
      });
    }
    return this._confirm(clientSecret, { payment_method: pm, return_url: data.return_url }, handleActions);
  };

  proto.handleNextAction = function (args) {
    var clientSecret = args && args.clientSecret;
    var self = this;
    return this.retrievePaymentIntent(clientSecret).then(function (r) {
      if (r.error) return r;
      return self._handleActions(r.paymentIntent, clientSecret).then(function (pi) {
        if (pi.error) return { error: pi.error };
        if (pi.status === 'requires_payment_method' && pi.last_payment_error) {
          return { error: Object.assign({}, pi.last_payment_error, { payment_intent: pi }) };
        }
        return { paymentIntent: pi };
      });
    });
  };

  proto.handleCardAction = function (clientSecret) {
    return this.handleNextAction({ clientSecret: clientSecret });
  };

  function unsupported(name) {
    return function () {
      return Promise.resolve({ error: { type: 'invalid_request_error', message: name + ' is not supported by the local Stripe stand-in.' } });
    };
  }

  proto.confirmSetup = unsupported('confirmSetup');
  proto.confirmCardSetup = unsupported('confirmCardSetup');
  proto.retrieveSetupIntent = unsupported('retrieveSetupIntent');

  proto.paymentRequest = function () {
    return {
      canMakePayment: function () {
        return Promise.resolve(null);
      },
      on: function () {},
      off: function () {},
      show: function () {},
      update: function () {},
    };
  };

  proto.registerAppInfo = function () {};
  proto._registerWrapper = function () {};

  function Stripe(key, options) {
    if (typeof key !== 'string' || !/^pk_(test|live)_/.test(key)) {
      throw integrationError('Invalid value for Stripe(): apiKey should be a publishable key (pk_test_...). You passed: ' + key);
    }
    return new LocalStripeInstance(key, options);
  }

  Stripe.version = 'endive';
  Stripe.localStripe = { apiBase: API_BASE };
  window.Stripe = Stripe;
})();
