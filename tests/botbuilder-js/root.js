// A botbuilder-js 4.23 root bot that calls a turnbox bot as its skill,
// written as the SDK's simple root sample (80.skills-simple-bot-to-bot)
// writes it: CloudAdapter, a SkillConversationIdFactory over MemoryStorage,
// the bot-to-bot client, and CloudSkillHandler on ChannelServiceRoutes as
// the skill host (`/api/skills`). Every user message is forwarded to the
// skill; the skill's replies come back through the skill host and are
// relayed to the user's conversation by the SDK; its endOfConversation
// reaches the root, which says "root: the skill ended (<code>)".
//
// No MicrosoftAppId (the SDK's dev mode, no token either way):
// botbuilder-js gets its tokens through MSAL, which needs an https
// authority and Microsoft's instance discovery, so it cannot be pointed at
// the tests' stand-in identity provider. tests/e2e/skills_botbuilder.rs
// runs it against the real turnbox binary.
//
// SKILL_ENDPOINT: the skill's messaging endpoint. It listens on
// 127.0.0.1:PORT (0: any free port) and prints "listening on <port>".
const restify = require('restify');
const {
    ActivityHandler,
    ChannelServiceRoutes,
    CloudAdapter,
    CloudSkillHandler,
    ConfigurationBotFrameworkAuthentication,
    MemoryStorage,
    SkillConversationIdFactory,
} = require('botbuilder');

const auth = new ConfigurationBotFrameworkAuthentication({});
const adapter = new CloudAdapter(auth);
adapter.onTurnError = async (context, error) => {
    console.error(`root turn failed: ${error}`);
    await context.sendActivity(`root: the skill call failed: ${error.message}`);
};
const conversationIdFactory = new SkillConversationIdFactory(new MemoryStorage());
const skillClient = auth.createBotFrameworkClient();
const skill = { id: 'turnbox', appId: '', skillEndpoint: process.env.SKILL_ENDPOINT };
let skillHostEndpoint = '';

class RootBot extends ActivityHandler {
    constructor() {
        super();
        this.onMessage(async (context, next) => {
            const skillConversationId = await conversationIdFactory.createSkillConversationIdWithOptions({
                fromBotOAuthScope: context.turnState.get(context.adapter.OAuthScopeKey),
                fromBotId: '',
                activity: context.activity,
                botFrameworkSkill: skill,
            });
            const response = await skillClient.postActivity(
                '', skill.appId, skill.skillEndpoint, skillHostEndpoint, skillConversationId, context.activity);
            if (response.status < 200 || response.status > 299) {
                throw new Error(`the skill answered ${response.status}`);
            }
            await next();
        });
        this.onEndOfConversation(async (context, next) => {
            await context.sendActivity(`root: the skill ended (${context.activity.code})`);
            await next();
        });
    }
}

const bot = new RootBot();
const server = restify.createServer();
server.use(restify.plugins.bodyParser());
server.post('/api/messages', async (req, res) => {
    await adapter.process(req, res, (context) => bot.run(context));
});
const handler = new CloudSkillHandler(adapter, (context) => bot.run(context), conversationIdFactory, auth);
new ChannelServiceRoutes(handler).register(server, '/api/skills');
server.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
    const port = server.address().port;
    skillHostEndpoint = `http://127.0.0.1:${port}/api/skills`;
    console.log(`listening on ${port}`);
});
