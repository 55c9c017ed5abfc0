// The Bot Framework SDK's echo bot, as its samples write it (botbuilder-js
// 4.23 on restify), for bench-suite's comparison (docs/PERFORMANCE.md).
// No MicrosoftAppId: the SDK's own dev mode, no token either way, as
// turnbox's bots in the same run. PORT sets the port (3978).
const restify = require('restify');
const {
    ActivityHandler,
    CloudAdapter,
    ConfigurationBotFrameworkAuthentication,
    MessageFactory,
} = require('botbuilder');

const adapter = new CloudAdapter(new ConfigurationBotFrameworkAuthentication({}));
adapter.onTurnError = async (context, error) => {
    console.error(`turn failed: ${error}`);
};

class EchoBot extends ActivityHandler {
    constructor() {
        super();
        this.onMessage(async (context, next) => {
            const text = context.activity.text || '';
            await context.sendActivity(MessageFactory.text(`Echo: ${text}`, `Echo: ${text}`));
            await next();
        });
    }
}

const bot = new EchoBot();
const server = restify.createServer();
server.use(restify.plugins.bodyParser());
server.post('/api/messages', async (req, res) => {
    await adapter.process(req, res, (context) => bot.run(context));
});
server.get('/healthz', (req, res, next) => {
    res.send(200);
    next();
});
server.listen(Number(process.env.PORT || 3978), '127.0.0.1', () => {
    console.log(`botbuilder-js echo listening on ${server.url}`);
});
